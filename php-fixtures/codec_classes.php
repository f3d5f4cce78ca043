<?php
// Classes used by codec_catalog.php and codec_roundtrip.php (tests/test_php_interop.py).
// The roundtrip script needs them too: PHP refuses to unserialize an unknown enum.

namespace CodecFixtures;

class Plain
{
    public $a = 1;
    protected $b = 'two';
    private $c = [3];
    public $nul = null;
    public ?int $typed = 5;
    public int $uninitialized;
}

class ParentWithPrivate
{
    private $secret = 'parent';
    protected $shared = 'p';
    public $pub = 'pp';
}

class ChildWithPrivate extends ParentWithPrivate
{
    private $secret = 'child';
    public $extra = true;
}

class Bag
{
    private array $payload;

    public function __construct(array $payload = [])
    {
        $this->payload = $payload;
    }

    public function __serialize(): array
    {
        return $this->payload;
    }

    public function __unserialize(array $data): void
    {
        $this->payload = $data;
    }
}

class Legacy implements \Serializable
{
    private string $body;

    public function __construct(string $body = '')
    {
        $this->body = $body;
    }

    public function serialize(): string
    {
        return $this->body;
    }

    public function unserialize(string $data): void
    {
        $this->body = $data;
    }
}

class Node
{
    public $name;
    public $next = null;
    public $children = [];

    public function __construct($name = null)
    {
        $this->name = $name;
    }
}

class WithSleep
{
    public $keep = 'k';
    public $drop = 'd';
    private $hidden = 'h';

    public function __sleep()
    {
        return ['keep', 'hidden'];
    }
}

enum Suit: string
{
    case Hearts = 'H';
    case Spades = 'S';
}

enum Level: int
{
    case Low = 1;
    case High = 10;
}

enum Mood
{
    case Happy;
    case Grumpy;
}
