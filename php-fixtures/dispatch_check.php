<?php
// Reads what Python wrote, with PHP's own functions, and reports it as JSON.
//   php dispatch_check.php unserialize      < serialized command   -> {class, props}
//   php dispatch_check.php decrypt          < {"key","cipher","payload"} -> decrypted, double-unserialized command
//   php dispatch_check.php encrypt          < {"key","cipher","plaintext"} -> Laravel-format payload
//   php dispatch_check.php json_encode      < serialized value -> json_encode(value, JSON_UNESCAPED_UNICODE)
//   php dispatch_check.php json_encode_default < serialized value -> json_encode(value)
// The classes below mirror the test commands in tests/test_dispatch.py; typed properties make
// PHP itself reject a value of the wrong type.

namespace App\Enums {
    enum Status: string { case Active = 'active'; case Suspended = 'suspended'; }
}

namespace Illuminate\Bus {
    trait Queueable {
        public $connection; public $queue; public $messageGroup; public $deduplicator; public $delay;
        public $afterCommit; public $middleware = []; public $chained = []; public $chainConnection;
        public $chainQueue; public $chainCatchCallbacks;
    }
}

namespace Illuminate\Contracts\Database {
    class ModelIdentifier {
        public $class; public $id; public $relations; public $connection; public $collectionClass;
    }
}

namespace App\Jobs {
    class PythonDispatchedJob {
        use \Illuminate\Bus\Queueable;
        public string $title = 'untitled';
        public int $count = 0;
        protected ?array $tags = null;
        private string $secret = 'none';
        public ?\App\Enums\Status $status = null;
        public $user;
    }
    class PlainJob {
        use \Illuminate\Bus\Queueable;
        public string $name;
        public int $count;
    }
    class EncryptedJob {
        use \Illuminate\Bus\Queueable;
        public string $secret;
    }
}

namespace {
    function describe($value) {
        if ($value instanceof \UnitEnum) {
            return ['enum' => get_class($value) . ':' . $value->name];
        }
        if (is_object($value)) {
            $props = [];
            foreach ((new ReflectionObject($value))->getProperties() as $p) {
                $p->setAccessible(true);
                if (!$p->isInitialized($value)) { continue; }
                $vis = $p->isPrivate() ? 'private' : ($p->isProtected() ? 'protected' : 'public');
                $props[$p->getName()] = ['visibility' => $vis, 'value' => describe($p->getValue($value))];
            }
            return ['class' => get_class($value), 'props' => $props];
        }
        if (is_array($value)) {
            return array_map('describe', $value);
        }
        return $value;
    }

    function laravel_decrypt(string $payload, string $key, string $cipher): string {
        $p = json_decode(base64_decode($payload), true);
        $iv = base64_decode($p['iv']);
        $tag = empty($p['tag']) ? '' : base64_decode($p['tag']);
        if (!str_contains(strtolower($cipher), 'gcm')) {
            $mac = hash_hmac('sha256', $p['iv'] . $p['value'], $key);
            if (!hash_equals($mac, $p['mac'])) { throw new RuntimeException('The MAC is invalid.'); }
        }
        $plain = openssl_decrypt($p['value'], strtolower($cipher), $key, 0, $iv, $tag);
        if ($plain === false) { throw new RuntimeException('Could not decrypt the data.'); }
        return $plain;
    }

    function laravel_encrypt(string $plain, string $key, string $cipher): string {
        $iv = random_bytes(openssl_cipher_iv_length(strtolower($cipher)));
        $tag = '';
        $value = str_contains(strtolower($cipher), 'gcm')
            ? openssl_encrypt($plain, strtolower($cipher), $key, 0, $iv, $tag)
            : openssl_encrypt($plain, strtolower($cipher), $key, 0, $iv);
        $iv = base64_encode($iv);
        $tag = base64_encode($tag);
        $mac = str_contains(strtolower($cipher), 'gcm') ? '' : hash_hmac('sha256', $iv . $value, $key);
        return base64_encode(json_encode(compact('iv', 'value', 'mac', 'tag'), JSON_UNESCAPED_SLASHES));
    }

    $mode = $argv[1] ?? '';
    $input = stream_get_contents(STDIN);
    switch ($mode) {
        case 'unserialize':
            $value = unserialize($input, ['allowed_classes' => true]);
            echo json_encode(describe($value), JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION);
            break;
        case 'decrypt':
            $args = json_decode($input, true);
            $plain = laravel_decrypt($args['payload'], base64_decode($args['key']), $args['cipher']);
            echo json_encode(describe(unserialize(unserialize($plain))), JSON_UNESCAPED_UNICODE);
            break;
        case 'encrypt':
            $args = json_decode($input, true);
            echo laravel_encrypt($args['plaintext'], base64_decode($args['key']), $args['cipher']);
            break;
        case 'json_encode':
            echo json_encode(unserialize($input), JSON_UNESCAPED_UNICODE);
            break;
        case 'json_encode_default':
            echo json_encode(unserialize($input));
            break;
        default:
            fwrite(STDERR, "unknown mode\n");
            exit(2);
    }
}
