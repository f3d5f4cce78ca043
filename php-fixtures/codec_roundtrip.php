<?php
// Reads a JSON list of base64 strings on stdin; for each, unserialize() then serialize()
// again and print a JSON list of base64 results (null where unserialize() failed).
error_reporting(E_ALL & ~E_DEPRECATED);
require __DIR__ . '/codec_classes.php';

$inputs = json_decode(stream_get_contents(STDIN), true, 512, JSON_THROW_ON_ERROR);
$out = [];
foreach ($inputs as $b64) {
    $value = @unserialize(base64_decode($b64, true));
    $raw = base64_decode($b64, true);
    if ($value === false && $raw !== 'b:0;') {
        $out[] = null;
        continue;
    }
    $out[] = base64_encode(serialize($value));
}
echo json_encode($out, JSON_THROW_ON_ERROR);
