"""PHP serialize()/unserialize() codec, byte-exact in both directions.

Mapping (decode -> Python -> encode):

* `N;` None, `b:` bool, `i:` int (64-bit), `d:` float (INF, -INF, NAN, -0.0; written
  as PHP 8 writes them), `s:` str when the bytes are valid UTF-8, else bytes.
* `a:` a list when the keys are exactly 0..n-1 in order, otherwise a dict (order kept;
  a decimal-integer string key is an int key, as in PHP). list/tuple/dict encode back.
* `O:` PhpObject (mangled property keys, in order), `C:` PhpSerializable (opaque
  body), `E:` PhpEnum.
* `r:N` gives the same Python object again; `R:N` (a PHP reference) puts one
  PhpReference instance at every place sharing the value. dumps() writes both back
  with PHP's slot numbering, so `dumps(loads(x)) == x` for what PHP produced.

Decoding never imports, instantiates or calls anything named in the data. A C
extension (`_speedups`) is used when it was built; the pure-Python modules are the
reference and the fallback, with identical results. Set LARAVEL_QUEUE_PHP_CODEC=python
to force the pure-Python one.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from . import _decode, _encode
from ._common import DEFAULT_MAX_DEPTH, php_float
from ._errors import PhpUnserializeError
from ._types import PhpEnum, PhpObject, PhpReference, PhpSerializable, Visibility, demangle, mangle

try:
    from . import _speedups  # type: ignore[attr-defined]
except ImportError:  # no compiler at install time: the pure-Python codec is complete on its own
    _speedups = None

if _speedups is not None and os.environ.get("LARAVEL_QUEUE_PHP_CODEC", "").lower() != "python":
    _loads_impl = _speedups.loads
    _dumps_impl = _speedups.dumps
    IMPLEMENTATION = "c"
else:
    _loads_impl = _decode.loads
    _dumps_impl = _encode.dumps
    IMPLEMENTATION = "python"


if TYPE_CHECKING:

    def loads(data: bytes | bytearray | memoryview | str, *, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
        """Decode one PHP-serialized value.

        `str` input is encoded as UTF-8 first (a JSON payload's `data.command`). Nesting
        of non-empty arrays and objects beyond `max_depth` (0 = unlimited) is an error,
        as in PHP. Malformed input raises PhpUnserializeError with `.offset`; trailing
        bytes after the value are an error too.
        """

    def dumps(value: Any) -> bytes:
        """Encode `value` exactly as PHP serialize() would.

        Raises TypeError for values with no PHP form, OverflowError for ints beyond
        64 bits, ValueError for a cycle that runs only through plain lists/dicts.
        """

else:  # bound directly: no wrapper call on the per-job path
    loads = _loads_impl
    dumps = _dumps_impl


__all__ = [
    "DEFAULT_MAX_DEPTH",
    "IMPLEMENTATION",
    "PhpEnum",
    "PhpObject",
    "PhpReference",
    "PhpSerializable",
    "PhpUnserializeError",
    "Visibility",
    "demangle",
    "dumps",
    "loads",
    "mangle",
    "php_float",
]
