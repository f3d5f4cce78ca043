<?php
// Serializes a catalog of values with PHP's own serialize() and prints
// {"name": base64(serialized), ...} as JSON. Python must decode every entry and
// re-encode it to the same bytes (tests/test_php_interop.py).
error_reporting(E_ALL & ~E_DEPRECATED);
require __DIR__ . '/codec_classes.php';

use CodecFixtures\Bag;
use CodecFixtures\ChildWithPrivate;
use CodecFixtures\Legacy;
use CodecFixtures\Level;
use CodecFixtures\Mood;
use CodecFixtures\Node;
use CodecFixtures\Plain;
use CodecFixtures\Suit;
use CodecFixtures\WithSleep;

$c = [];

// scalars
$c['null'] = null;
$c['true'] = true;
$c['false'] = false;
foreach ([0, 1, -1, 42, -7, PHP_INT_MAX, PHP_INT_MIN, 2147483648, -2147483649] as $i => $int) {
    $c["int_$i"] = $int;
}

// floats at the edges
$floats = [0.0, -0.0, 0.1, 0.2, 0.30000000000000004, 1.0, -1.0, 1.5, 100.0, 1e15, 1e16, 1e17, 1e25, 1e-4,
    1e-5, 1.5e-10, -1.5e-10, 123456789012345678.0, 1 / 3, 2 ** 53, 2.0 ** 63, PHP_FLOAT_EPSILON, PHP_FLOAT_MAX,
    PHP_FLOAT_MIN, 5e-324, 2.2250738585072014e-308, 9007199254740993.0, 0.000123456789, 1234567.890123,
    NAN, INF, -INF, 1e100, 1e-100, 4.35, 0.1 + 0.7];
foreach ($floats as $i => $f) {
    $c["float_$i"] = $f;
}

// strings
$c['str_empty'] = '';
$c['str_ascii'] = 'hello world';
$c['str_utf8'] = "h\u{e9}llo w\u{f6}rld \u{2713} \u{65e5}\u{672c}\u{8a9e} \u{1F389}";
$c['str_quotes'] = 'a";s:1:"b"; } {';
$c['str_binary'] = "\x00\x01\xff\xfe\x80 binary \xc3\x28 \xed\xa0\x80";
$c['str_all_bytes'] = implode('', array_map('chr', range(0, 255)));
$c['str_newlines'] = "line1\nline2\r\n\ttab";
$c['str_long'] = str_repeat("0123456789abcdef\u{e9}", 5000);
$c['str_numeric'] = '123';

// arrays
$c['arr_empty'] = [];
$c['arr_list'] = [1, 2, 3];
$c['arr_map'] = ['a' => 1, 'b' => 2];
$c['arr_sparse'] = [5 => 'five', 9 => 'nine'];
$c['arr_out_of_order'] = [1 => 'a', 0 => 'b'];
$c['arr_numeric_keys'] = ['10' => 'ten', '007' => 'bond', '-5' => 'neg', '-0' => 'negzero', '9223372036854775808' => 'big',
    '-9223372036854775808' => 'min', '1.5' => 'float', ' 1' => 'space', '' => 'empty'];
$c['arr_negative'] = [-1 => 'a', -2 => 'b'];
$c['arr_mixed'] = [0 => 'zero', 'x' => 'ex', 1 => 'one', 5 => 'five'];
$c['arr_nested'] = ['list' => [1, [2, [3, [4, []]]]], 'map' => ['a' => ['b' => ['c' => [true, false, null]]]]];
$c['arr_list_after_unset'] = (function () { $a = [1, 2, 3]; unset($a[1]); return $a; })();
$c['arr_reindexed'] = array_values([5 => 'a', 9 => 'b']);
$c['arr_with_types'] = [1, 1.5, 'x', null, true, [], ['k' => 'v']];
$deep = [];
for ($i = 0; $i < 4096; $i++) {
    $deep = [$deep];
}
$c['arr_deep_4096'] = $deep;

// objects
$c['obj_std'] = (object) ['a' => 1, 'b' => [1, 2], '3' => 'three'];
$c['obj_std_empty'] = new stdClass();
$c['obj_plain'] = new Plain();
$c['obj_inherited_private'] = new ChildWithPrivate();
$c['obj_sleep'] = new WithSleep();
$c['obj_serialize_int_keys'] = new Bag([0 => 'zero', 7 => 'seven', 'k' => 'v']);
$c['obj_serialize_list'] = new Bag(['a', 'b']);
$c['obj_serialize_nested'] = new Bag(['inner' => new Bag(['x' => 1]), 'plain' => new Plain()]);
$c['obj_serializable'] = new Legacy('opaque } body ; with "quotes"');
$c['obj_serializable_empty'] = new Legacy('');
$c['obj_datetime'] = new DateTimeImmutable('2024-02-29 12:00:00.123456', new DateTimeZone('+05:30'));
$c['obj_datetime_tz'] = new DateTime('2025-06-30 23:59:59', new DateTimeZone('Europe/Amsterdam'));
$c['obj_arrayobject'] = new ArrayObject(['a' => 1, 'b' => [2]]);
$storage = new SplObjectStorage();
$storage[new Node('k1')] = 'data1';
$storage[new Node('k2')] = ['data2'];
$c['obj_splobjectstorage'] = $storage;
$c['obj_incomplete'] = unserialize('O:16:"App\\Jobs\\Missing":2:{s:1:"a";i:1;s:6:"' . "\0*\0" . 'pro";b:1;}');

// enums
$c['enum_string'] = Suit::Hearts;
$c['enum_int'] = Level::High;
$c['enum_pure'] = Mood::Grumpy;
$c['enum_repeated'] = [Suit::Hearts, Suit::Hearts, Level::High, Mood::Happy, ['x' => Mood::Happy], Suit::Spades];

// shared objects and references
$n = new Node('shared');
$c['shared_object'] = [$n, $n, [$n], 'obj' => $n];
$x = 'shared scalar';
$c['ref_scalar'] = [&$x, &$x, 'k' => &$x, 'other' => 'plain'];
$arr = [1, 2];
$c['ref_array'] = ['a' => &$arr, 'b' => &$arr, 'c' => $arr];
$self = [];
$self['me'] = &$self;
$c['ref_self_array'] = $self;
$o = new Node('cycle');
$o->next = $o;
$c['obj_self_r'] = $o;
$o2 = new Node('cycle-ref');
$o2->next = &$o2;
$c['obj_self_R'] = $o2;
$o3 = new Node('mixed');
$c['obj_plain_then_ref'] = [$o3, &$o3, $o3];
$o4 = new Node('ref-first');
$c['obj_ref_then_plain'] = [&$o4, $o4];
$p = new Node('parent');
$child = new Node('child');
$child->next = $p;
$p->children = [$child, $child];
$c['obj_graph'] = $p;
$holder = new Node('holder');
$holder->children = [1, 2];
$holder->next = &$holder->children;
$c['ref_into_property'] = $holder;
$y = 5;
$c['ref_nested'] = ['outer' => ['inner' => &$y], 'again' => &$y, 'list' => [&$y, [&$y]]];
$e = Suit::Spades;
$c['ref_enum'] = [&$e, &$e, Suit::Spades];
$bag = new Bag(['self' => null]);
$c['obj_serialize_shared'] = [$bag, new Bag([$n, $n]), $bag];
$legacy = new Legacy('x');
$c['obj_serializable_shared'] = [$legacy, $legacy];
$list = [new Node('a'), new Node('b')];
$list[] = &$list[0];
$c['ref_to_list_element'] = $list;

$out = [];
foreach ($c as $name => $value) {
    $out[$name] = base64_encode(serialize($value));
}
echo json_encode($out, JSON_THROW_ON_ERROR | JSON_PRETTY_PRINT), "\n";
