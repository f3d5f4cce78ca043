/*
 * Compiled fast path of the PHP serialization codec.
 *
 * This file mirrors _decode.py, _tokens.py and _encode.py token for token (same checks in
 * the same order, same error messages and offsets); the Python modules are the
 * reference. Both are iterative: no C or Python recursion, so nesting depth is
 * bounded only by max_depth. Decoding never imports or calls anything named in
 * the data: it only builds dict/list/str/bytes/int/float and the four value
 * types from laravel_queue.php._types.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define MAX_DIGITS 19
#define DEFAULT_MAX_DEPTH 4096

static PyObject *T_PhpObject, *T_PhpEnum, *T_PhpSerializable, *T_PhpReference;
static PyObject *E_Unserialize, *ABC_Mapping;
static PyObject *D_obj_class_name, *D_obj_properties, *D_ref_value;
static PyObject *S_class_name, *S_case, *S_data, *S_items;
static PyObject *EMPTY_TUPLE;

/* ---------------------------------------------------------------- helpers */

static int
descr_set(PyObject *descr, PyObject *obj, PyObject *value)
{
    return Py_TYPE(descr)->tp_descr_set(descr, obj, value);
}

static PyObject *
descr_get(PyObject *descr, PyObject *obj)
{
    return Py_TYPE(descr)->tp_descr_get(descr, obj, (PyObject *)Py_TYPE(obj));
}

static int
is_php_object(PyObject *v)
{
    return PyObject_TypeCheck(v, (PyTypeObject *)T_PhpObject) ||
           PyObject_TypeCheck(v, (PyTypeObject *)T_PhpEnum) ||
           PyObject_TypeCheck(v, (PyTypeObject *)T_PhpSerializable);
}

static void
raise_at(const char *msg, Py_ssize_t offset)
{
    PyObject *exc = PyObject_CallFunction(E_Unserialize, "sn", msg, offset);
    if (exc != NULL) {
        PyErr_SetObject(E_Unserialize, exc);
        Py_DECREF(exc);
    }
}

static void
raise_expected(unsigned char c, Py_ssize_t offset)
{
    char msg[16];
    snprintf(msg, sizeof msg, "expected '%c'", c);
    raise_at(msg, offset);
}

/* zend_is_valid_class_name(): letters, digits, '_', '\\' and bytes >= 0x80. */
static int
class_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '\\' || c >= 0x80;
}

static int
valid_class_name(const unsigned char *p, Py_ssize_t n)
{
    if (n == 0 || p[0] == '\\')
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!class_char(p[i]))
            return 0;
    return 1;
}

static int
valid_label(const unsigned char *p, Py_ssize_t n)
{
    if (n == 0)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!class_char(p[i]) || p[i] == '\\')
            return 0;
    return 1;
}

/* ZEND_HANDLE_NUMERIC_STR: "-?(0|[1-9][0-9]*)" within zend_long, not "-0". */
static int
numeric_key(const unsigned char *p, Py_ssize_t n, long long *out)
{
    Py_ssize_t i = 0;
    int neg = 0;
    unsigned long long mag = 0;
    if (n == 0)
        return 0;
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return 0;
    }
    if (p[i] == '0') {
        if (n - i != 1 || neg)
            return 0;
        *out = 0;
        return 1;
    }
    if (p[i] < '1' || p[i] > '9' || n - i > MAX_DIGITS)
        return 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        mag = mag * 10 + (unsigned long long)(p[i] - '0');
    }
    if (neg) {
        if (mag > 9223372036854775808ULL)
            return 0;
        *out = mag == 9223372036854775808ULL ? LLONG_MIN : -(long long)mag;
    }
    else {
        if (mag > 9223372036854775807ULL)
            return 0;
        *out = (long long)mag;
    }
    return 1;
}

/* PHP strings are bytes: valid UTF-8 becomes str, anything else bytes. */
static PyObject *
make_text(const unsigned char *p, Py_ssize_t n)
{
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, n, NULL);
    if (s != NULL)
        return s;
    if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError))
        return NULL;
    PyErr_Clear();
    return PyBytes_FromStringAndSize((const char *)p, n);
}

/* ---------------------------------------------------------------- decoder */

typedef struct {
    PyObject *value; /* strong: the PhpObject for objects, the container for arrays */
    PyObject *key;   /* strong key in the parent, or NULL with idx for a list parent */
    PyObject *box;   /* strong PhpReference once an R: pointed here */
    Py_ssize_t parent;
    Py_ssize_t idx;
    int open;
} Slot;

enum { K_LIST = 0, K_DICT = 1, K_OBJ = 2 };

typedef struct {
    PyObject *container; /* strong: list / dict / the object's properties dict */
    Py_ssize_t remaining;
    Py_ssize_t slot;
    Py_ssize_t count;
    int kind;
} Frame;

#define KEY_CACHE_SIZE 256
#define KEY_CACHE_MAX_LEN 48

#define INLINE_SLOTS 16
#define INLINE_FRAMES 8

typedef struct {
    const unsigned char *buf;
    Py_ssize_t end;
    Slot *slots;
    Py_ssize_t nslots, capslots;
    Frame *frames;
    Py_ssize_t nframes, capframes;
    Slot inline_slots[INLINE_SLOTS]; /* small payloads need no heap allocation */
    Frame inline_frames[INLINE_FRAMES];
    PyObject *keys[KEY_CACHE_SIZE]; /* recent short ASCII keys and class names, shared */
    unsigned char used_keys[KEY_CACHE_SIZE];
    int nused_keys;
    PyObject **held;                 /* strong refs to containers kept out of the GC meanwhile */
    Py_ssize_t nheld, capheld;
} Dec;

/* Keys and class names repeat (every record has the same property names): reuse one
   str object per spelling, which also reuses its cached hash in dict inserts. */
static PyObject *
cached_text(Dec *d, const unsigned char *p, Py_ssize_t n)
{
    if (n > KEY_CACHE_MAX_LEN)
        return make_text(p, n);
    uint32_t h = 2166136261u;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] >= 0x80)
            return make_text(p, n);
        h = (h ^ p[i]) * 16777619u;
    }
    PyObject **slot = &d->keys[(h ^ (h >> 16)) & (KEY_CACHE_SIZE - 1)];
    PyObject *e = *slot;
    if (e != NULL && PyUnicode_GET_LENGTH(e) == n && memcmp(PyUnicode_1BYTE_DATA(e), p, (size_t)n) == 0)
        return Py_NewRef(e);
    PyObject *s = PyUnicode_New(n, 127);
    if (s == NULL)
        return NULL;
    memcpy(PyUnicode_1BYTE_DATA(s), p, (size_t)n);
    if (e == NULL)
        d->used_keys[d->nused_keys++] = (unsigned char)(slot - d->keys);
    Py_XSETREF(*slot, Py_NewRef(s));
    return s;
}

/* Grow a dynamic array; `inline_buf` is its initial in-struct storage (or NULL). */
static int
grow_in(void **arr, Py_ssize_t *cap, Py_ssize_t need, size_t item, void *inline_buf)
{
    if (need <= *cap)
        return 0;
    Py_ssize_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    if ((size_t)ncap > PY_SSIZE_T_MAX / item) {
        PyErr_NoMemory();
        return -1;
    }
    void *p;
    if (*arr != NULL && *arr == inline_buf) {
        p = PyMem_Malloc((size_t)ncap * item);
        if (p != NULL)
            memcpy(p, *arr, (size_t)*cap * item);
    }
    else {
        p = PyMem_Realloc(*arr, (size_t)ncap * item);
    }
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *arr = p;
    *cap = ncap;
    return 0;
}

static int
grow(void **arr, Py_ssize_t *cap, Py_ssize_t need, size_t item)
{
    return grow_in(arr, cap, need, item, NULL);
}

static int
push_slot(Dec *d, PyObject *value, Py_ssize_t parent, PyObject *key, Py_ssize_t idx, int open)
{
    if (grow_in((void **)&d->slots, &d->capslots, d->nslots + 1, sizeof(Slot), d->inline_slots) < 0)
        return -1;
    Slot *s = &d->slots[d->nslots++];
    Py_INCREF(value);
    s->value = value;
    Py_XINCREF(key);
    s->key = key;
    s->box = NULL;
    s->parent = parent;
    s->idx = idx;
    s->open = open;
    return 0;
}

/* Keep a new container out of the cyclic GC until decoding ends. Every container
   is reachable from the slot table meanwhile, so no collection could free any of
   them, but each collection would traverse all of them: on a 10 MB payload that
   doubled the decode time. dec_free() hands them all back to the GC, error or not. */
static int
park(Dec *d, PyObject *o)
{
    if (!PyObject_GC_IsTracked(o))
        return 0;
    if (grow((void **)&d->held, &d->capheld, d->nheld + 1, sizeof(PyObject *)) < 0)
        return -1;
    d->held[d->nheld++] = Py_NewRef(o);
    PyObject_GC_UnTrack(o);
    return 0;
}

static void
dec_free(Dec *d)
{
    for (Py_ssize_t i = 0; i < d->nheld; i++) {
        if (!PyObject_GC_IsTracked(d->held[i]))
            PyObject_GC_Track(d->held[i]);
        Py_DECREF(d->held[i]);
    }
    PyMem_Free(d->held);
    for (Py_ssize_t i = 0; i < d->nslots; i++) {
        Py_XDECREF(d->slots[i].value);
        Py_XDECREF(d->slots[i].key);
        Py_XDECREF(d->slots[i].box);
    }
    for (Py_ssize_t i = 0; i < d->nframes; i++)
        Py_XDECREF(d->frames[i].container);
    for (int i = 0; i < d->nused_keys; i++)
        Py_XDECREF(d->keys[d->used_keys[i]]);
    if (d->slots != d->inline_slots)
        PyMem_Free(d->slots);
    if (d->frames != d->inline_frames)
        PyMem_Free(d->frames);
}

static inline int
expect(Dec *d, Py_ssize_t p, unsigned char c)
{
    if (p >= d->end || d->buf[p] != c) {
        raise_expected(c, p);
        return -1;
    }
    return 0;
}

static int
parse_uint(Dec *d, Py_ssize_t p, Py_ssize_t *val, Py_ssize_t *q)
{
    Py_ssize_t i = p;
    unsigned long long v = 0;
    while (i < d->end && d->buf[i] >= '0' && d->buf[i] <= '9') {
        if (i - p < MAX_DIGITS)
            v = v * 10 + (unsigned long long)(d->buf[i] - '0');
        i++;
    }
    if (i == p) {
        raise_at("expected digits", p);
        return -1;
    }
    if (i - p > MAX_DIGITS) {
        raise_at("number out of range", p);
        return -1;
    }
    *val = v > (unsigned long long)PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)v;
    *q = i;
    return 0;
}

static int
parse_sint(Dec *d, Py_ssize_t p, long long *val, Py_ssize_t *q)
{
    Py_ssize_t i = p, first, z;
    int neg = 0;
    unsigned long long mag = 0;
    if (i < d->end && (d->buf[i] == '+' || d->buf[i] == '-')) {
        neg = d->buf[i] == '-';
        i++;
    }
    first = i;
    while (i < d->end && d->buf[i] >= '0' && d->buf[i] <= '9')
        i++;
    if (i == first) {
        raise_at("expected digits", first);
        return -1;
    }
    z = first;
    while (z < i && d->buf[z] == '0')
        z++;
    if (i - z > MAX_DIGITS) {
        raise_at("integer out of range", p);
        return -1;
    }
    for (Py_ssize_t k = z; k < i; k++)
        mag = mag * 10 + (unsigned long long)(d->buf[k] - '0');
    if (neg ? mag > 9223372036854775808ULL : mag > 9223372036854775807ULL) {
        raise_at("integer out of range", p);
        return -1;
    }
    if (neg)
        *val = mag == 9223372036854775808ULL ? LLONG_MIN : -(long long)mag;
    else
        *val = (long long)mag;
    *q = i;
    return 0;
}

/* s:<n>:"<n bytes>"; -- pos points at 's' */
static int
parse_string(Dec *d, Py_ssize_t pos, Py_ssize_t *start, Py_ssize_t *len, Py_ssize_t *after)
{
    Py_ssize_t n, q, s;
    if (expect(d, pos + 1, ':') < 0 || parse_uint(d, pos + 2, &n, &q) < 0 || expect(d, q, ':') < 0 ||
        expect(d, q + 1, '"') < 0)
        return -1;
    s = q + 2;
    if (n > d->end - s) {
        raise_at("string length exceeds input", pos + 2);
        return -1;
    }
    if (expect(d, s + n, '"') < 0 || expect(d, s + n + 1, ';') < 0)
        return -1;
    *start = s;
    *len = n;
    *after = s + n + 2;
    return 0;
}

static int
hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* S:<n>:"..."; with \xx escapes; returns new bytes */
static PyObject *
parse_escaped(Dec *d, Py_ssize_t pos, Py_ssize_t *after)
{
    Py_ssize_t n, q, p;
    if (expect(d, pos + 1, ':') < 0 || parse_uint(d, pos + 2, &n, &q) < 0 || expect(d, q, ':') < 0 ||
        expect(d, q + 1, '"') < 0)
        return NULL;
    p = q + 2;
    if (n > d->end - p) {
        raise_at("string length exceeds input", pos + 2);
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, n);
    if (out == NULL)
        return NULL;
    unsigned char *o = (unsigned char *)PyBytes_AS_STRING(out);
    for (Py_ssize_t k = 0; k < n; k++) {
        if (p >= d->end) {
            raise_at("truncated escaped string", p);
            goto fail;
        }
        unsigned char c = d->buf[p];
        if (c == '\\') {
            if (p + 2 >= d->end) {
                raise_at("truncated escaped string", p);
                goto fail;
            }
            int hi = hexval(d->buf[p + 1]), lo = hexval(d->buf[p + 2]);
            if (hi < 0) {
                raise_at("invalid escape", p + 1);
                goto fail;
            }
            if (lo < 0) {
                raise_at("invalid escape", p + 2);
                goto fail;
            }
            o[k] = (unsigned char)(hi * 16 + lo);
            p += 3;
        }
        else {
            o[k] = c;
            p++;
        }
    }
    if (expect(d, p, '"') < 0 || expect(d, p + 1, ';') < 0)
        goto fail;
    *after = p + 2;
    return out;
fail:
    Py_DECREF(out);
    return NULL;
}

/* X:<n>:"<name>" -- returns the name's start/len and the position after the quote */
static int
parse_class_header(Dec *d, Py_ssize_t pos, const char *len_msg, Py_ssize_t *start, Py_ssize_t *len,
                   Py_ssize_t *after)
{
    Py_ssize_t n, q, s;
    if (expect(d, pos + 1, ':') < 0 || parse_uint(d, pos + 2, &n, &q) < 0 || expect(d, q, ':') < 0 ||
        expect(d, q + 1, '"') < 0)
        return -1;
    s = q + 2;
    if (n == 0 || n > d->end - s) {
        raise_at(len_msg, pos + 2);
        return -1;
    }
    if (expect(d, s + n, '"') < 0)
        return -1;
    *start = s;
    *len = n;
    *after = s + n + 1;
    return 0;
}

static int
starts_with(Dec *d, Py_ssize_t p, const char *lit, Py_ssize_t n)
{
    return d->end - p >= n && memcmp(d->buf + p, lit, (size_t)n) == 0;
}

/* d:<float>; -- grammar [+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)? or NAN/INF/-INF */
static PyObject *
parse_float(Dec *d, Py_ssize_t pos, Py_ssize_t *after)
{
    Py_ssize_t p, i, end = d->end;
    const unsigned char *b = d->buf;
    if (expect(d, pos + 1, ':') < 0)
        return NULL;
    p = pos + 2;
    if (starts_with(d, p, "NAN;", 4)) {
        *after = p + 4;
        return PyFloat_FromDouble(Py_NAN);
    }
    if (starts_with(d, p, "INF;", 4)) {
        *after = p + 4;
        return PyFloat_FromDouble(Py_HUGE_VAL);
    }
    if (starts_with(d, p, "-INF;", 5)) {
        *after = p + 5;
        return PyFloat_FromDouble(-Py_HUGE_VAL);
    }
    i = p;
    if (i < end && (b[i] == '+' || b[i] == '-'))
        i++;
    if (i < end && b[i] >= '0' && b[i] <= '9') {
        while (i < end && b[i] >= '0' && b[i] <= '9')
            i++;
        if (i < end && b[i] == '.') {
            i++;
            while (i < end && b[i] >= '0' && b[i] <= '9')
                i++;
        }
    }
    else if (i + 1 < end && b[i] == '.' && b[i + 1] >= '0' && b[i + 1] <= '9') {
        i++;
        while (i < end && b[i] >= '0' && b[i] <= '9')
            i++;
    }
    else {
        raise_at("invalid float", p);
        return NULL;
    }
    if (i < end && (b[i] == 'e' || b[i] == 'E')) {
        Py_ssize_t j = i + 1;
        if (j < end && (b[j] == '+' || b[j] == '-'))
            j++;
        if (j < end && b[j] >= '0' && b[j] <= '9') {
            while (j < end && b[j] >= '0' && b[j] <= '9')
                j++;
            i = j;
        }
    }
    if (expect(d, i, ';') < 0)
        return NULL;
    Py_ssize_t n = i - p;
    char small[64];
    char *tmp = n < (Py_ssize_t)sizeof small ? small : PyMem_Malloc((size_t)n + 1);
    if (tmp == NULL)
        return PyErr_NoMemory();
    memcpy(tmp, b + p, (size_t)n);
    tmp[n] = '\0';
    double v = PyOS_string_to_double(tmp, NULL, NULL);
    if (tmp != small)
        PyMem_Free(tmp);
    if (v == -1.0 && PyErr_Occurred())
        return NULL;
    *after = i + 1;
    return PyFloat_FromDouble(v);
}

static int
set_box_value(PyObject *box, PyObject *value)
{
    return descr_set(D_ref_value, box, value);
}

static PyObject *
new_reference(PyObject *value)
{
    PyTypeObject *tp = (PyTypeObject *)T_PhpReference;
    PyObject *box = tp->tp_new(tp, EMPTY_TUPLE, NULL);
    if (box == NULL)
        return NULL;
    if (set_box_value(box, value) < 0) {
        Py_DECREF(box);
        return NULL;
    }
    return box;
}

static PyObject *
new_php_object(PyObject *name, PyObject **props_out)
{
    PyTypeObject *tp = (PyTypeObject *)T_PhpObject;
    PyObject *obj = tp->tp_new(tp, EMPTY_TUPLE, NULL);
    if (obj == NULL)
        return NULL;
    PyObject *props = PyDict_New();
    if (props == NULL || descr_set(D_obj_class_name, obj, name) < 0 || descr_set(D_obj_properties, obj, props) < 0) {
        Py_XDECREF(props);
        Py_DECREF(obj);
        return NULL;
    }
    *props_out = props;
    return obj;
}

static int
list_to_dict(Dec *d, Frame *fr)
{
    PyObject *lst = fr->container;
    PyObject *dict = PyDict_New();
    if (dict == NULL)
        return -1;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(lst); i++) {
        PyObject *k = PyLong_FromSsize_t(i);
        if (k == NULL || PyDict_SetItem(dict, k, PyList_GET_ITEM(lst, i)) < 0) {
            Py_XDECREF(k);
            Py_DECREF(dict);
            return -1;
        }
        Py_DECREF(k);
    }
    fr->container = dict;
    fr->kind = K_DICT;
    Py_DECREF(lst);
    Slot *s = &d->slots[fr->slot];
    Py_INCREF(dict);
    Py_SETREF(s->value, dict);
    if (s->box != NULL && set_box_value(s->box, dict) < 0)
        return -1;
    return 0;
}

static int
dict_is_sequential(PyObject *dict)
{
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(dict, &pos, &k, &v)) {
        if (!PyLong_CheckExact(k))
            return 0;
        int overflow;
        long long kv = PyLong_AsLongLongAndOverflow(k, &overflow);
        if (overflow || kv != i)
            return 0;
        i++;
    }
    return 1;
}

/* Swap the completed value of slot `target` for `box` inside its parent container. */
static int
replace_in_parent(Dec *d, Py_ssize_t target, PyObject *box)
{
    Slot *s = &d->slots[target];
    PyObject *container = d->slots[s->parent].value;
    int rc;
    if (PyObject_TypeCheck(container, (PyTypeObject *)T_PhpObject)) {
        PyObject *props = descr_get(D_obj_properties, container);
        if (props == NULL)
            return -1;
        rc = PyObject_SetItem(props, s->key, box);
        Py_DECREF(props);
        return rc;
    }
    if (PyList_Check(container)) {
        Py_ssize_t index = s->idx;
        if (s->key != NULL) {
            index = PyLong_AsSsize_t(s->key);
            if (index == -1 && PyErr_Occurred())
                return -1;
        }
        Py_INCREF(box);
        return PyList_SetItem(container, index, box);
    }
    if (s->key != NULL)
        return PyObject_SetItem(container, s->key, box);
    PyObject *k = PyLong_FromSsize_t(s->idx);
    if (k == NULL)
        return -1;
    rc = PyObject_SetItem(container, k, box);
    Py_DECREF(k);
    return rc;
}

static int
deliver(Frame *fr, PyObject *key, PyObject *value)
{
    if (fr->kind == K_LIST)
        return PyList_Append(fr->container, value);
    return PyDict_SetItem(fr->container, key, value);
}

static PyObject *
decode(const unsigned char *buf, Py_ssize_t end, Py_ssize_t max_depth)
{
    Dec d;
    memset(&d.keys, 0, sizeof d.keys);
    d.buf = buf;
    d.end = end;
    d.slots = d.inline_slots;
    d.nslots = 0;
    d.capslots = INLINE_SLOTS;
    d.frames = d.inline_frames;
    d.nframes = 0;
    d.capframes = INLINE_FRAMES;
    d.nused_keys = 0;
    d.held = NULL;
    d.nheld = 0;
    d.capheld = 0;
    Py_ssize_t pos = 0;
    PyObject *result = NULL;
    PyObject *key = NULL;   /* owned, per element */
    PyObject *value = NULL; /* owned, per element */

    for (;;) {
        Py_ssize_t key_idx = -1;
        Py_ssize_t parent = -1;
        Frame *fr = NULL;
        key = NULL;
        value = NULL;
        if (d.nframes) {
            fr = &d.frames[d.nframes - 1];
            if (fr->remaining == 0) {
                if (pos >= end || buf[pos] != '}') {
                    raise_expected('}', pos);
                    goto fail;
                }
                pos++;
                Frame f = d.frames[--d.nframes];
                Slot *s = &d.slots[f.slot];
                s->open = 0;
                if (f.kind == K_OBJ) {
                    value = s->value;
                    Py_INCREF(value);
                    if (park(&d, f.container) < 0) {
                        Py_DECREF(f.container);
                        goto fail;
                    }
                }
                else {
                    value = f.container;
                    Py_INCREF(value);
                    if (f.kind == K_DICT && PyDict_GET_SIZE(value) < f.count && dict_is_sequential(value)) {
                        PyObject *lst = PyDict_Values(value);
                        if (lst == NULL) {
                            Py_DECREF(f.container);
                            goto fail;
                        }
                        Py_DECREF(value);
                        value = lst;
                        Py_INCREF(lst);
                        Py_SETREF(s->value, lst);
                    }
                    if (park(&d, value) < 0) {
                        Py_DECREF(f.container);
                        goto fail;
                    }
                }
                Py_DECREF(f.container);
                if (s->box != NULL) {
                    if (set_box_value(s->box, value) < 0)
                        goto fail;
                    Py_SETREF(value, Py_NewRef(s->box));
                }
                if (d.nframes) {
                    if (deliver(&d.frames[d.nframes - 1], s->key, value) < 0)
                        goto fail;
                    Py_CLEAR(value);
                    continue;
                }
                result = value;
                value = NULL;
                goto done;
            }
            fr->remaining--;
            /* -- key -- */
            if (pos >= end) {
                raise_at("unexpected end of data", pos);
                goto fail;
            }
            unsigned char t = buf[pos];
            if (t == 'i') {
                long long iv;
                Py_ssize_t q;
                if (expect(&d, pos + 1, ':') < 0 || parse_sint(&d, pos + 2, &iv, &q) < 0 || expect(&d, q, ';') < 0)
                    goto fail;
                pos = q + 1;
                if (fr->kind == K_LIST && iv == PyList_GET_SIZE(fr->container))
                    key_idx = (Py_ssize_t)iv;
                else if ((key = PyLong_FromLongLong(iv)) == NULL)
                    goto fail;
            }
            else if (t == 's' || t == 'S') {
                const unsigned char *raw;
                Py_ssize_t rawlen;
                PyObject *tmp = NULL;
                long long iv;
                if (t == 's') {
                    Py_ssize_t st;
                    if (parse_string(&d, pos, &st, &rawlen, &pos) < 0)
                        goto fail;
                    raw = buf + st;
                }
                else {
                    tmp = parse_escaped(&d, pos, &pos);
                    if (tmp == NULL)
                        goto fail;
                    raw = (const unsigned char *)PyBytes_AS_STRING(tmp);
                    rawlen = PyBytes_GET_SIZE(tmp);
                }
                if (fr->kind != K_OBJ && numeric_key(raw, rawlen, &iv)) {
                    if (fr->kind == K_LIST && iv == PyList_GET_SIZE(fr->container))
                        key_idx = (Py_ssize_t)iv;
                    else
                        key = PyLong_FromLongLong(iv);
                }
                else {
                    key = cached_text(&d, raw, rawlen);
                }
                Py_XDECREF(tmp);
                if (key_idx < 0 && key == NULL)
                    goto fail;
            }
            else {
                raise_at(fr->kind != K_OBJ ? "invalid key" : "invalid property name", pos);
                goto fail;
            }
            if (fr->kind == K_LIST && key_idx < 0 && list_to_dict(&d, fr) < 0)
                goto fail;
            parent = fr->slot;
        }

        /* -- value -- */
        if (pos >= end) {
            raise_at("unexpected end of data", pos);
            goto fail;
        }
        unsigned char t = buf[pos];
        Py_ssize_t slot = d.nslots;
        switch (t) {
        case 's': {
            Py_ssize_t st, n;
            if (parse_string(&d, pos, &st, &n, &pos) < 0)
                goto fail;
            value = make_text(buf + st, n);
            if (value == NULL)
                goto fail;
            break;
        }
        case 'i': {
            long long iv;
            Py_ssize_t q;
            if (expect(&d, pos + 1, ':') < 0 || parse_sint(&d, pos + 2, &iv, &q) < 0 || expect(&d, q, ';') < 0)
                goto fail;
            pos = q + 1;
            value = PyLong_FromLongLong(iv);
            if (value == NULL)
                goto fail;
            break;
        }
        case 'N':
            if (expect(&d, pos + 1, ';') < 0)
                goto fail;
            value = Py_NewRef(Py_None);
            pos += 2;
            break;
        case 'b':
            if (expect(&d, pos + 1, ':') < 0)
                goto fail;
            if (pos + 2 >= end || (buf[pos + 2] != '0' && buf[pos + 2] != '1')) {
                raise_at("invalid boolean", pos + 2);
                goto fail;
            }
            if (expect(&d, pos + 3, ';') < 0)
                goto fail;
            value = Py_NewRef(buf[pos + 2] == '1' ? Py_True : Py_False);
            pos += 4;
            break;
        case 'd':
            value = parse_float(&d, pos, &pos);
            if (value == NULL)
                goto fail;
            break;
        case 'a':
        case 'O': {
            PyObject *obj = NULL, *props = NULL, *container;
            Py_ssize_t count_at, count, q, p;
            if (t == 'a') {
                if (expect(&d, pos + 1, ':') < 0)
                    goto fail;
                count_at = pos + 2;
            }
            else {
                Py_ssize_t st, n;
                if (parse_class_header(&d, pos, "invalid class name length", &st, &n, &q) < 0)
                    goto fail;
                if (!valid_class_name(buf + st, n)) {
                    raise_at("invalid class name", st);
                    goto fail;
                }
                if (expect(&d, q, ':') < 0)
                    goto fail;
                count_at = q + 1;
                PyObject *name = cached_text(&d, buf + st, n);
                if (name == NULL)
                    goto fail;
                obj = new_php_object(name, &props);
                Py_DECREF(name);
                if (obj == NULL)
                    goto fail;
                if (park(&d, obj) < 0)
                    goto fail_obj;
            }
            if (parse_uint(&d, count_at, &count, &q) < 0 || expect(&d, q, ':') < 0 || expect(&d, q + 1, '{') < 0)
                goto fail_obj;
            p = q + 2;
            if (count > (end - p) / 6) {
                raise_at("element count exceeds input", count_at);
                goto fail_obj;
            }
            if (obj == NULL && count == 0) {
                if (expect(&d, p, '}') < 0)
                    goto fail;
                value = PyList_New(0);
                if (value == NULL || park(&d, value) < 0)
                    goto fail;
                pos = p + 1;
                break;
            }
            if (max_depth && d.nframes >= max_depth) {
                char msg[64];
                snprintf(msg, sizeof msg, "maximum depth of %zd exceeded", max_depth);
                raise_at(msg, pos);
                goto fail_obj;
            }
            pos = p;
            container = obj != NULL ? props : PyList_New(0);
            if (container == NULL)
                goto fail;
            if (obj == NULL && park(&d, container) < 0) {
                Py_DECREF(container);
                goto fail;
            }
            if (push_slot(&d, obj != NULL ? obj : container, parent, key, key_idx, 1) < 0 ||
                grow_in((void **)&d.frames, &d.capframes, d.nframes + 1, sizeof(Frame), d.inline_frames) < 0) {
                if (obj == NULL)
                    Py_DECREF(container);
                goto fail_obj;
            }
            Frame *nf = &d.frames[d.nframes++];
            nf->container = container; /* the reference from props / PyList_New */
            nf->remaining = count;
            nf->slot = slot;
            nf->count = count;
            nf->kind = obj != NULL ? K_OBJ : K_LIST;
            Py_XDECREF(obj);
            Py_CLEAR(key);
            continue;
        fail_obj:
            Py_XDECREF(obj);
            Py_XDECREF(props);
            goto fail;
        }
        case 'R':
        case 'r': {
            Py_ssize_t n, q;
            if (expect(&d, pos + 1, ':') < 0 || parse_uint(&d, pos + 2, &n, &q) < 0 || expect(&d, q, ';') < 0)
                goto fail;
            if (n == 0 || n > d.nslots) {
                raise_at("reference to an unknown value", pos + 2);
                goto fail;
            }
            Py_ssize_t target = n - 1;
            pos = q + 1;
            if (t == 'r') {
                value = d.slots[target].value;
                if (!is_php_object(value)) {
                    value = NULL;
                    raise_at("r: must point at an object", q - 1);
                    goto fail;
                }
                Py_INCREF(value);
                break;
            }
            Slot *s = &d.slots[target];
            if (s->box == NULL) {
                s->box = new_reference(s->value);
                if (s->box == NULL || park(&d, s->box) < 0)
                    goto fail;
                if (!s->open && s->parent >= 0 && replace_in_parent(&d, target, s->box) < 0)
                    goto fail;
            }
            if (fr == NULL) {
                raise_at("reference to an unknown value", pos);
                goto fail;
            }
            if (deliver(fr, key, d.slots[target].box) < 0)
                goto fail;
            Py_CLEAR(key);
            continue;
        }
        case 'E': {
            Py_ssize_t st, n, q;
            if (parse_class_header(&d, pos, "invalid enum name length", &st, &n, &q) < 0 || expect(&d, q, ';') < 0)
                goto fail;
            const unsigned char *colon = memchr(buf + st, ':', (size_t)n);
            if (colon == NULL) {
                raise_at("enum name without ':'", st);
                goto fail;
            }
            Py_ssize_t clen = colon - (buf + st);
            if (!valid_class_name(buf + st, clen)) {
                raise_at("invalid enum class name", st);
                goto fail;
            }
            if (!valid_label(colon + 1, n - clen - 1)) {
                raise_at("invalid enum case name", st + clen + 1);
                goto fail;
            }
            PyObject *cls = make_text(buf + st, clen);
            PyObject *cs = cls ? make_text(colon + 1, n - clen - 1) : NULL;
            if (cs != NULL)
                value = PyObject_CallFunctionObjArgs(T_PhpEnum, cls, cs, NULL);
            Py_XDECREF(cls);
            Py_XDECREF(cs);
            if (value == NULL || park(&d, value) < 0)
                goto fail;
            pos = q + 1;
            break;
        }
        case 'C': {
            Py_ssize_t st, n, q, q2, p, dl;
            if (parse_class_header(&d, pos, "invalid class name length", &st, &n, &q) < 0)
                goto fail;
            if (!valid_class_name(buf + st, n)) {
                raise_at("invalid class name", st);
                goto fail;
            }
            if (expect(&d, q, ':') < 0 || parse_uint(&d, q + 1, &dl, &q2) < 0 || expect(&d, q2, ':') < 0 ||
                expect(&d, q2 + 1, '{') < 0)
                goto fail;
            p = q2 + 2;
            if (dl >= end - p) {
                raise_at("serialized data length exceeds input", q + 1);
                goto fail;
            }
            if (expect(&d, p + dl, '}') < 0)
                goto fail;
            PyObject *cls = make_text(buf + st, n);
            PyObject *body = cls ? PyBytes_FromStringAndSize((const char *)buf + p, dl) : NULL;
            if (body != NULL)
                value = PyObject_CallFunctionObjArgs(T_PhpSerializable, cls, body, NULL);
            Py_XDECREF(cls);
            Py_XDECREF(body);
            if (value == NULL || park(&d, value) < 0)
                goto fail;
            pos = p + dl + 1;
            break;
        }
        case 'S': {
            PyObject *raw = parse_escaped(&d, pos, &pos);
            if (raw == NULL)
                goto fail;
            value = make_text((const unsigned char *)PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw));
            Py_DECREF(raw);
            if (value == NULL)
                goto fail;
            break;
        }
        default:
            raise_at("unknown type", pos);
            goto fail;
        }

        if (push_slot(&d, value, parent, key, key_idx, 0) < 0)
            goto fail;
        if (fr == NULL) {
            result = value;
            value = NULL;
            goto done;
        }
        if (deliver(fr, key, value) < 0)
            goto fail;
        Py_CLEAR(value);
        Py_CLEAR(key);
    }

done:
    Py_CLEAR(key);
    if (pos != end) {
        raise_at("unexpected data after the value", pos);
        goto fail;
    }
    if (PyObject_TypeCheck(result, (PyTypeObject *)T_PhpReference)) {
        PyObject *inner = descr_get(D_ref_value, result);
        if (inner == NULL)
            goto fail;
        if (is_php_object(inner))
            Py_SETREF(result, inner);
        else
            Py_DECREF(inner);
    }
    dec_free(&d);
    return result;

fail:
    Py_XDECREF(key);
    Py_XDECREF(value);
    Py_XDECREF(result);
    dec_free(&d);
    return NULL;
}

static PyObject *
unicode_input_error(PyObject *data)
{
    /* Mirror _tokens.to_bytes: byte offset of the first unencodable character. */
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    PyErr_NormalizeException(&type, &exc, &tb);
    Py_ssize_t start = 0;
    if (exc == NULL || PyUnicodeEncodeError_GetStart(exc, &start) < 0) {
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        return NULL;
    }
    Py_XDECREF(type);
    Py_XDECREF(exc);
    Py_XDECREF(tb);
    PyObject *head = PyUnicode_Substring(data, 0, start);
    PyObject *enc = head ? PyUnicode_AsEncodedString(head, "utf-8", "surrogatepass") : NULL;
    Py_XDECREF(head);
    if (enc == NULL)
        return NULL;
    Py_ssize_t offset = PyBytes_GET_SIZE(enc);
    Py_DECREF(enc);
    raise_at("input text is not valid Unicode", offset);
    return NULL;
}

static PyObject *S_data_kw, *S_max_depth_kw;

/* loads(data, *, max_depth=4096), parsed by hand: it is called per job. */
static PyObject *
py_loads(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *data = nargs >= 1 ? args[0] : NULL, *bytes, *result, *depth = NULL;
    Py_ssize_t max_depth = DEFAULT_MAX_DEPTH;
    if (nargs > 1)
        return PyErr_Format(PyExc_TypeError, "loads() takes 1 positional argument but %zd were given", nargs);
    for (Py_ssize_t i = 0; kwnames != NULL && i < PyTuple_GET_SIZE(kwnames); i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        int is_depth = PyUnicode_Compare(name, S_max_depth_kw) == 0;
        if (!is_depth && PyUnicode_Compare(name, S_data_kw) == 0 && data == NULL) {
            data = args[nargs + i];
            continue;
        }
        if (!is_depth || depth != NULL)
            return PyErr_Format(PyExc_TypeError, "loads() got an unexpected keyword argument '%S'", name);
        depth = args[nargs + i];
    }
    if (data == NULL)
        return PyErr_Format(PyExc_TypeError, "loads() missing required argument 'data'");
    if (depth != NULL) {
        max_depth = PyNumber_AsSsize_t(depth, PyExc_OverflowError);
        if (max_depth == -1 && PyErr_Occurred())
            return NULL;
    }
    if (PyBytes_Check(data)) {
        bytes = Py_NewRef(data);
    }
    else if (PyUnicode_Check(data)) {
        bytes = PyUnicode_AsUTF8String(data);
        if (bytes == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeEncodeError))
                return unicode_input_error(data);
            return NULL;
        }
    }
    else if (PyByteArray_Check(data) || PyMemoryView_Check(data)) {
        bytes = PyBytes_FromObject(data);
        if (bytes == NULL)
            return NULL;
    }
    else {
        return PyErr_Format(PyExc_TypeError, "expected bytes or str, not %.200s", Py_TYPE(data)->tp_name);
    }
    if (max_depth < 0) {
        Py_DECREF(bytes);
        PyErr_SetString(PyExc_ValueError, "max_depth must be >= 0 (0 = unlimited)");
        return NULL;
    }
    result = decode((const unsigned char *)PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes), max_depth);
    Py_DECREF(bytes);
    return result;
}

/* ---------------------------------------------------------------- encoder */

typedef struct {
    char *buf;
    Py_ssize_t len, cap;
} Out;

static int
out_reserve(Out *o, Py_ssize_t extra)
{
    if (o->len + extra <= o->cap)
        return 0;
    Py_ssize_t ncap = o->cap ? o->cap : 256;
    while (ncap < o->len + extra) {
        if (ncap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        ncap *= 2;
    }
    char *p = PyMem_Realloc(o->buf, (size_t)ncap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    o->buf = p;
    o->cap = ncap;
    return 0;
}

static inline int
out_write(Out *o, const char *s, Py_ssize_t n)
{
    if (out_reserve(o, n) < 0)
        return -1;
    memcpy(o->buf + o->len, s, (size_t)n);
    o->len += n;
    return 0;
}

static inline int
out_char(Out *o, char c)
{
    if (out_reserve(o, 1) < 0)
        return -1;
    o->buf[o->len++] = c;
    return 0;
}

static int
out_long(Out *o, long long v)
{
    char tmp[24];
    int i = 24;
    unsigned long long mag = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        tmp[--i] = (char)('0' + mag % 10);
        mag /= 10;
    } while (mag);
    if (v < 0)
        tmp[--i] = '-';
    return out_write(o, tmp + i, 24 - i);
}

/* "<prefix><n><suffix>", e.g. i:5; or s:3:" */
static int
out_tagged(Out *o, const char *prefix, long long n, const char *suffix)
{
    if (out_write(o, prefix, (Py_ssize_t)strlen(prefix)) < 0 || out_long(o, n) < 0)
        return -1;
    return out_write(o, suffix, (Py_ssize_t)strlen(suffix));
}

static int
out_string(Out *o, const char *s, Py_ssize_t n)
{
    if (out_reserve(o, n + 26) < 0 || out_tagged(o, "s:", n, ":\"") < 0 || out_write(o, s, n) < 0)
        return -1;
    return out_write(o, "\";", 2);
}

/* Format like PHP 8 serialize() with serialize_precision -1 (php_gcvt, mode 0). */
static int
format_php_double(double v, char *out)
{
    if (isnan(v)) {
        memcpy(out, "NAN", 3);
        return 3;
    }
    if (isinf(v)) {
        if (v > 0) {
            memcpy(out, "INF", 3);
            return 3;
        }
        memcpy(out, "-INF", 4);
        return 4;
    }
    char *r = PyOS_double_to_string(v, 'r', 0, 0, NULL);
    if (r == NULL)
        return -1;
    const char *p = r;
    int neg = 0, nd = 0, intlen = 0, point = 0, expo = 0, decpt, lead = 0;
    char digits[40];
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++) {
        if (*p == '.') {
            point = 1;
            continue;
        }
        if (nd < 39)
            digits[nd++] = *p;
        if (!point)
            intlen++;
    }
    if (*p == 'e')
        expo = atoi(p + 1);
    PyMem_Free(r);
    decpt = intlen + expo;
    while (lead < nd && digits[lead] == '0')
        lead++;
    decpt -= lead;
    memmove(digits, digits + lead, (size_t)(nd - lead));
    nd -= lead;
    while (nd > 0 && digits[nd - 1] == '0')
        nd--;
    char *o = out;
    if (neg)
        *o++ = '-';
    if (nd == 0) {
        *o++ = '0';
        return (int)(o - out);
    }
    if (decpt < 0 ? decpt < -3 : decpt > 17) {
        int e = decpt - 1;
        *o++ = digits[0];
        *o++ = '.';
        if (nd > 1) {
            memcpy(o, digits + 1, (size_t)(nd - 1));
            o += nd - 1;
        }
        else {
            *o++ = '0';
        }
        *o++ = 'E';
        *o++ = e < 0 ? '-' : '+';
        o += sprintf(o, "%d", e < 0 ? -e : e);
    }
    else if (decpt < 0) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -decpt; i++)
            *o++ = '0';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    }
    else if (decpt == 0) {
        *o++ = '0';
        *o++ = '.';
        memcpy(o, digits, (size_t)nd);
        o += nd;
    }
    else if (nd <= decpt) {
        memcpy(o, digits, (size_t)nd);
        o += nd;
        for (int i = nd; i < decpt; i++)
            *o++ = '0';
    }
    else {
        memcpy(o, digits, (size_t)decpt);
        o += decpt;
        *o++ = '.';
        memcpy(o, digits + decpt, (size_t)(nd - decpt));
        o += nd - decpt;
    }
    return (int)(o - out);
}

static int
out_double(Out *o, double v)
{
    char tmp[80];
    int n = format_php_double(v, tmp);
    if (n < 0 || out_write(o, "d:", 2) < 0 || out_write(o, tmp, n) < 0)
        return -1;
    return out_char(o, ';');
}

static int
out_int_value(Out *o, PyObject *v)
{
    int overflow;
    long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) {
        PyErr_Format(PyExc_OverflowError, "%S does not fit PHP's 64-bit int", v);
        return -1;
    }
    if (x == -1 && PyErr_Occurred())
        return -1;
    return out_tagged(o, "i:", x, ";");
}

/* str -> UTF-8 (borrowed pointer valid while *keep lives); bytes-like -> its bytes */
static int
text_bytes(PyObject *v, const char *what, PyObject **keep, const char **s, Py_ssize_t *n)
{
    if (PyUnicode_Check(v)) {
        if (PyUnicode_IS_ASCII(v)) {
            *keep = Py_NewRef(v);
            *s = (const char *)PyUnicode_DATA(v);
            *n = PyUnicode_GET_LENGTH(v);
            return 0;
        }
        *keep = PyUnicode_AsUTF8String(v);
    }
    else if (PyBytes_Check(v)) {
        *keep = Py_NewRef(v);
    }
    else if (PyByteArray_Check(v) || PyMemoryView_Check(v)) {
        *keep = PyBytes_FromObject(v);
    }
    else {
        PyErr_Format(PyExc_TypeError, "%s must be str or bytes, not %.200s", what, Py_TYPE(v)->tp_name);
        return -1;
    }
    if (*keep == NULL)
        return -1;
    *s = PyBytes_AS_STRING(*keep);
    *n = PyBytes_GET_SIZE(*keep);
    return 0;
}

static int
out_text_value(Out *o, PyObject *v, const char *what)
{
    PyObject *keep;
    const char *s;
    Py_ssize_t n;
    if (text_bytes(v, what, &keep, &s, &n) < 0)
        return -1;
    int rc = out_string(o, s, n);
    Py_DECREF(keep);
    return rc;
}

static int
out_array_key(Out *o, PyObject *k)
{
    if (PyLong_Check(k))
        return out_int_value(o, k);
    if (PyUnicode_Check(k) || PyBytes_Check(k)) {
        PyObject *keep;
        const char *s;
        Py_ssize_t n;
        long long iv;
        if (text_bytes(k, "array key", &keep, &s, &n) < 0)
            return -1;
        int rc = numeric_key((const unsigned char *)s, n, &iv) ? out_tagged(o, "i:", iv, ";") : out_string(o, s, n);
        Py_DECREF(keep);
        return rc;
    }
    PyErr_Format(PyExc_TypeError, "PHP array keys must be int, str or bytes, not %.200s", Py_TYPE(k)->tp_name);
    return -1;
}

static int
out_property_key(Out *o, PyObject *k)
{
    if (PyLong_Check(k) && !PyBool_Check(k))
        return out_int_value(o, k);
    if (PyUnicode_Check(k) || PyBytes_Check(k))
        return out_text_value(o, k, "property name");
    PyErr_Format(PyExc_TypeError, "PHP property names must be str, bytes or int, not %.200s", Py_TYPE(k)->tp_name);
    return -1;
}

/* A pointer set (open addressing, backward-shift deletion) for the cycle guard. */
typedef struct {
    void **tab;
    size_t cap, n;
} PtrSet;

static size_t
ptr_hash(void *p)
{
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

static int ptrset_add(PtrSet *s, void *p);

static int
ptrset_grow(PtrSet *s)
{
    size_t ncap = s->cap ? s->cap * 2 : 64;
    void **old = s->tab;
    size_t ocap = s->cap;
    s->tab = PyMem_Calloc(ncap, sizeof(void *));
    if (s->tab == NULL) {
        s->tab = old;
        PyErr_NoMemory();
        return -1;
    }
    s->cap = ncap;
    s->n = 0;
    for (size_t i = 0; i < ocap; i++)
        if (old[i] != NULL)
            ptrset_add(s, old[i]);
    PyMem_Free(old);
    return 0;
}

/* 1 if already present, 0 if added, -1 on error */
static int
ptrset_add(PtrSet *s, void *p)
{
    if ((s->n + 1) * 2 > s->cap && ptrset_grow(s) < 0)
        return -1;
    size_t mask = s->cap - 1, i = ptr_hash(p) & mask;
    while (s->tab[i] != NULL) {
        if (s->tab[i] == p)
            return 1;
        i = (i + 1) & mask;
    }
    s->tab[i] = p;
    s->n++;
    return 0;
}

static void
ptrset_remove(PtrSet *s, void *p)
{
    if (s->cap == 0)
        return;
    size_t mask = s->cap - 1, i = ptr_hash(p) & mask;
    while (s->tab[i] != p) {
        if (s->tab[i] == NULL)
            return;
        i = (i + 1) & mask;
    }
    s->tab[i] = NULL;
    s->n--;
    size_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (s->tab[j] == NULL)
            break;
        size_t k = ptr_hash(s->tab[j]) & mask;
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        s->tab[i] = s->tab[j];
        s->tab[j] = NULL;
        i = j;
    }
}

enum { E_ROOT = 0, E_SEQ = 1, E_DICT = 2, E_OBJ = 3, E_ITEMS = 4 };

typedef struct {
    PyObject *container; /* strong: root value / list / tuple / dict / props dict / items list */
    PyObject *owner;     /* strong: the plain container in the cycle guard, or NULL */
    Py_ssize_t pos;
    Py_ssize_t size;
    int kind;
} EFrame;

typedef struct {
    Out out;
    EFrame *frames;
    Py_ssize_t nframes, capframes;
    EFrame inline_frames[INLINE_FRAMES];
    PtrSet active;
    PyObject *seen; /* identity key -> slot number */
    long long n;
} Enc;

static int
push_eframe(Enc *e, PyObject *container, PyObject *owner, int kind)
{
    if (grow_in((void **)&e->frames, &e->capframes, e->nframes + 1, sizeof(EFrame), e->inline_frames) < 0)
        return -1;
    EFrame *f = &e->frames[e->nframes++];
    f->container = Py_NewRef(container);
    f->owner = owner ? Py_NewRef(owner) : NULL;
    f->pos = 0;
    f->size = PyDict_Check(container) ? PyDict_GET_SIZE(container) : 0;
    f->kind = kind;
    return 0;
}

static int
enter_array(Enc *e, PyObject *v)
{
    int r = ptrset_add(&e->active, v);
    if (r < 0)
        return -1;
    if (r == 1) {
        PyErr_SetString(PyExc_ValueError, "circular structure without a PhpReference or PhpObject in the cycle");
        return -1;
    }
    if (PyList_Check(v) || PyTuple_Check(v)) {
        if (out_tagged(&e->out, "a:", PySequence_Fast_GET_SIZE(v), ":{") < 0)
            return -1;
        return push_eframe(e, v, v, E_SEQ);
    }
    if (PyDict_CheckExact(v)) {
        if (out_tagged(&e->out, "a:", PyDict_GET_SIZE(v), ":{") < 0)
            return -1;
        return push_eframe(e, v, v, E_DICT);
    }
    PyObject *items = PyObject_CallMethodNoArgs(v, S_items);
    PyObject *lst = items ? PySequence_List(items) : NULL;
    Py_XDECREF(items);
    if (lst == NULL)
        return -1;
    int rc = out_tagged(&e->out, "a:", PyList_GET_SIZE(lst), ":{");
    if (rc == 0)
        rc = push_eframe(e, lst, v, E_ITEMS);
    Py_DECREF(lst);
    return rc;
}

/* The var_hash key PHP would use for an object value (enums by class and case). */
static PyObject *
identity(PyObject *v)
{
    if (PyObject_TypeCheck(v, (PyTypeObject *)T_PhpEnum)) {
        PyObject *cls = PyObject_GetAttr(v, S_class_name);
        PyObject *cs = cls ? PyObject_GetAttr(v, S_case) : NULL;
        PyObject *key = cs ? PyTuple_Pack(2, cls, cs) : NULL;
        Py_XDECREF(cls);
        Py_XDECREF(cs);
        return key;
    }
    return PyLong_FromVoidPtr(v);
}

/* Returns 1 (and writes the back-reference) when key was seen, 0 after registering it. */
static int
seen_or_register(Enc *e, PyObject *ident, const char *tag, int undo)
{
    PyObject *slot = PyDict_GetItemWithError(e->seen, ident);
    if (slot != NULL) {
        if (undo)
            e->n--;
        long long sv = PyLong_AsLongLong(slot);
        if (out_tagged(&e->out, tag, sv, ";") < 0)
            return -1;
        return 1;
    }
    if (PyErr_Occurred())
        return -1;
    PyObject *nv = PyLong_FromLongLong(e->n);
    if (nv == NULL)
        return -1;
    int rc = PyDict_SetItem(e->seen, ident, nv);
    Py_DECREF(nv);
    return rc < 0 ? -1 : 0;
}

static int
write_object(Enc *e, PyObject *v)
{
    PyObject *keep = NULL, *keep2 = NULL, *a = NULL, *b = NULL;
    const char *s, *s2;
    Py_ssize_t n, n2;
    int rc = -1;
    if (PyObject_TypeCheck(v, (PyTypeObject *)T_PhpObject)) {
        PyObject *props = NULL;
        a = descr_get(D_obj_class_name, v);
        if (a == NULL || text_bytes(a, "class name", &keep, &s, &n) < 0)
            goto done;
        props = descr_get(D_obj_properties, v);
        if (props == NULL)
            goto done;
        if (!PyDict_Check(props)) {
            PyErr_SetString(PyExc_TypeError, "PhpObject.properties must be a dict");
            Py_DECREF(props);
            goto done;
        }
        if (out_tagged(&e->out, "O:", n, ":\"") < 0 || out_write(&e->out, s, n) < 0 ||
            out_tagged(&e->out, "\":", PyDict_GET_SIZE(props), ":{") < 0 ||
            push_eframe(e, props, NULL, E_OBJ) < 0) {
            Py_DECREF(props);
            goto done;
        }
        Py_DECREF(props);
        rc = 0;
    }
    else if (PyObject_TypeCheck(v, (PyTypeObject *)T_PhpEnum)) {
        a = PyObject_GetAttr(v, S_class_name);
        if (a == NULL || text_bytes(a, "enum class name", &keep, &s, &n) < 0)
            goto done;
        b = PyObject_GetAttr(v, S_case);
        if (b == NULL || text_bytes(b, "enum case", &keep2, &s2, &n2) < 0)
            goto done;
        if (out_tagged(&e->out, "E:", n + 1 + n2, ":\"") < 0 || out_write(&e->out, s, n) < 0 ||
            out_char(&e->out, ':') < 0 || out_write(&e->out, s2, n2) < 0 || out_write(&e->out, "\";", 2) < 0)
            goto done;
        rc = 0;
    }
    else {
        a = PyObject_GetAttr(v, S_class_name);
        if (a == NULL || text_bytes(a, "class name", &keep, &s, &n) < 0)
            goto done;
        b = PyObject_GetAttr(v, S_data);
        if (b == NULL || text_bytes(b, "Serializable data", &keep2, &s2, &n2) < 0)
            goto done;
        if (out_tagged(&e->out, "C:", n, ":\"") < 0 || out_write(&e->out, s, n) < 0 ||
            out_tagged(&e->out, "\":", n2, ":{") < 0 || out_write(&e->out, s2, n2) < 0 || out_char(&e->out, '}') < 0)
            goto done;
        rc = 0;
    }
done:
    Py_XDECREF(a);
    Py_XDECREF(b);
    Py_XDECREF(keep);
    Py_XDECREF(keep2);
    return rc;
}

/* Mirrors _encode._scalar_or_container: subclasses and other containers. */
static int
write_fallback(Enc *e, PyObject *v)
{
    if (v == Py_None)
        return out_write(&e->out, "N;", 2);
    if (PyBool_Check(v))
        return out_write(&e->out, v == Py_True ? "b:1;" : "b:0;", 4);
    if (PyLong_Check(v))
        return out_int_value(&e->out, v);
    if (PyFloat_Check(v))
        return out_double(&e->out, PyFloat_AS_DOUBLE(v));
    if (PyUnicode_Check(v) || PyBytes_Check(v) || PyByteArray_Check(v) || PyMemoryView_Check(v))
        return out_text_value(&e->out, v, "string");
    if (PyList_Check(v) || PyTuple_Check(v) || PyDict_Check(v))
        return enter_array(e, v);
    int is_map = PyObject_IsInstance(v, ABC_Mapping);
    if (is_map < 0)
        return -1;
    if (is_map)
        return enter_array(e, v);
    PyErr_Format(PyExc_TypeError, "cannot serialize %.200s for PHP", Py_TYPE(v)->tp_name);
    return -1;
}

static int
write_value(Enc *e, PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    e->n++;
    if (t == &PyUnicode_Type)
        return out_text_value(&e->out, v, "string");
    if (t == &PyLong_Type)
        return out_int_value(&e->out, v);
    if (v == Py_None)
        return out_write(&e->out, "N;", 2);
    if (t == &PyBool_Type)
        return out_write(&e->out, v == Py_True ? "b:1;" : "b:0;", 4);
    if (t == &PyFloat_Type)
        return out_double(&e->out, PyFloat_AS_DOUBLE(v));
    if (t == &PyList_Type || t == &PyDict_Type)
        return enter_array(e, v);
    if (t == &PyBytes_Type)
        return out_string(&e->out, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));

    int rc, boxed = 0;
    PyObject *inner = NULL;
    if ((PyObject *)t == T_PhpReference) {
        PyObject *ident;
        inner = descr_get(D_ref_value, v);
        if (inner == NULL)
            return -1;
        if (PyObject_TypeCheck(inner, (PyTypeObject *)T_PhpReference)) {
            Py_DECREF(inner);
            PyErr_SetString(PyExc_ValueError, "a PhpReference cannot hold another PhpReference");
            return -1;
        }
        ident = is_php_object(inner) ? identity(inner) : PyLong_FromVoidPtr(v);
        if (ident == NULL) {
            Py_DECREF(inner);
            return -1;
        }
        rc = seen_or_register(e, ident, "R:", 1);
        Py_DECREF(ident);
        if (rc != 0) {
            Py_DECREF(inner);
            return rc < 0 ? -1 : 0;
        }
        v = inner;
        boxed = 1;
    }
    if (is_php_object(v)) {
        if (!boxed) {
            PyObject *ident = identity(v);
            if (ident == NULL)
                return -1;
            rc = seen_or_register(e, ident, "r:", 0);
            Py_DECREF(ident);
            if (rc != 0)
                return rc < 0 ? -1 : 0;
        }
        rc = write_object(e, v);
    }
    else {
        rc = write_fallback(e, v);
    }
    Py_XDECREF(inner);
    return rc;
}

static void
enc_free(Enc *e)
{
    for (Py_ssize_t i = 0; i < e->nframes; i++) {
        Py_XDECREF(e->frames[i].container);
        Py_XDECREF(e->frames[i].owner);
    }
    if (e->frames != e->inline_frames)
        PyMem_Free(e->frames);
    PyMem_Free(e->active.tab);
    PyMem_Free(e->out.buf);
    Py_XDECREF(e->seen);
}

static PyObject *
py_dumps(PyObject *self, PyObject *value)
{
    Enc e;
    memset(&e, 0, sizeof e);
    e.frames = e.inline_frames;
    e.capframes = INLINE_FRAMES;
    e.seen = PyDict_New();
    if (e.seen == NULL || push_eframe(&e, value, NULL, E_ROOT) < 0)
        goto fail;
    while (e.nframes) {
        EFrame *f = &e.frames[e.nframes - 1];
        PyObject *k = NULL, *v = NULL;
        int rc;
        switch (f->kind) {
        case E_ROOT:
            if (f->pos) {
                Py_DECREF(f->container);
                e.nframes--;
                continue;
            }
            f->pos = 1;
            v = f->container;
            break;
        case E_SEQ:
            if (f->pos >= PySequence_Fast_GET_SIZE(f->container))
                goto close;
            v = PySequence_Fast_GET_ITEM(f->container, f->pos);
            if (out_tagged(&e.out, "i:", f->pos, ";") < 0)
                goto fail;
            f->pos++;
            break;
        case E_DICT:
        case E_OBJ:
            if (PyDict_GET_SIZE(f->container) != f->size) {
                PyErr_SetString(PyExc_RuntimeError, "dictionary changed size during serialization");
                goto fail;
            }
            if (!PyDict_Next(f->container, &f->pos, &k, &v))
                goto close;
            if ((f->kind == E_DICT ? out_array_key(&e.out, k) : out_property_key(&e.out, k)) < 0)
                goto fail;
            break;
        case E_ITEMS: {
            if (f->pos >= PyList_GET_SIZE(f->container))
                goto close;
            PyObject *item = PyList_GET_ITEM(f->container, f->pos++);
            if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
                PyErr_SetString(PyExc_ValueError, "Mapping.items() must yield (key, value) pairs");
                goto fail;
            }
            k = PyTuple_GET_ITEM(item, 0);
            v = PyTuple_GET_ITEM(item, 1);
            if (out_array_key(&e.out, k) < 0)
                goto fail;
            break;
        }
        }
        Py_INCREF(v);
        rc = write_value(&e, v);
        Py_DECREF(v);
        if (rc < 0)
            goto fail;
        continue;
    close:
        if (out_char(&e.out, '}') < 0)
            goto fail;
        {
            EFrame done = e.frames[--e.nframes];
            if (done.owner != NULL) {
                ptrset_remove(&e.active, done.owner);
                Py_DECREF(done.owner);
            }
            Py_DECREF(done.container);
        }
    }
    PyObject *result = PyBytes_FromStringAndSize(e.out.buf, e.out.len);
    enc_free(&e);
    return result;
fail:
    enc_free(&e);
    return NULL;
}

static PyObject *
py_format_float(PyObject *self, PyObject *arg)
{
    double v = PyFloat_AsDouble(arg);
    char tmp[80];
    if (v == -1.0 && PyErr_Occurred())
        return NULL;
    int n = format_php_double(v, tmp);
    if (n < 0)
        return NULL;
    return PyBytes_FromStringAndSize(tmp, n);
}

/* ---------------------------------------------------------------- module */

static PyMethodDef methods[] = {
    {"loads", (PyCFunction)(void (*)(void))py_loads, METH_FASTCALL | METH_KEYWORDS,
     "loads(data, *, max_depth=4096)\n--\n\nDecode one PHP-serialized value (bytes, or str as UTF-8).\n\n"
     "Non-empty arrays and objects nested deeper than max_depth (0 = unlimited) are an\n"
     "error, as in PHP; malformed input or trailing bytes raise PhpUnserializeError."},
    {"dumps", py_dumps, METH_O,
     "dumps(value)\n--\n\nEncode a value exactly as PHP serialize() would.\n\n"
     "TypeError for values with no PHP form, OverflowError for ints beyond 64 bits,\n"
     "ValueError for a cycle that runs only through plain lists and dicts."},
    {"php_float", py_format_float, METH_O, "php_float(value)\n--\n\nPHP's serialize() text of a float."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "laravel_queue.php._speedups", "C fast path of laravel_queue.php.", -1, methods,
};

static PyObject *
member(PyObject *type, const char *name)
{
    PyObject *d = PyDict_GetItemString(((PyTypeObject *)type)->tp_dict, name);
    if (d == NULL || Py_TYPE(d)->tp_descr_get == NULL || Py_TYPE(d)->tp_descr_set == NULL) {
        PyErr_Format(PyExc_ImportError, "%s.%s is not a slot", ((PyTypeObject *)type)->tp_name, name);
        return NULL;
    }
    return Py_NewRef(d);
}

PyMODINIT_FUNC
PyInit__speedups(void)
{
    PyObject *types = PyImport_ImportModule("laravel_queue.php._types");
    PyObject *errors = types ? PyImport_ImportModule("laravel_queue.php._errors") : NULL;
    PyObject *abc = errors ? PyImport_ImportModule("collections.abc") : NULL;
    if (abc == NULL)
        goto fail;
    if (!(T_PhpObject = PyObject_GetAttrString(types, "PhpObject")) ||
        !(T_PhpEnum = PyObject_GetAttrString(types, "PhpEnum")) ||
        !(T_PhpSerializable = PyObject_GetAttrString(types, "PhpSerializable")) ||
        !(T_PhpReference = PyObject_GetAttrString(types, "PhpReference")) ||
        !(E_Unserialize = PyObject_GetAttrString(errors, "PhpUnserializeError")) ||
        !(ABC_Mapping = PyObject_GetAttrString(abc, "Mapping")))
        goto fail;
    if (!(D_obj_class_name = member(T_PhpObject, "class_name")) ||
        !(D_obj_properties = member(T_PhpObject, "properties")) || !(D_ref_value = member(T_PhpReference, "value")))
        goto fail;
    if (!(S_class_name = PyUnicode_InternFromString("class_name")) || !(S_case = PyUnicode_InternFromString("case")) ||
        !(S_data = PyUnicode_InternFromString("data")) || !(S_items = PyUnicode_InternFromString("items")) ||
        !(S_data_kw = PyUnicode_InternFromString("data")) ||
        !(S_max_depth_kw = PyUnicode_InternFromString("max_depth")) ||
        !(EMPTY_TUPLE = PyTuple_New(0)))
        goto fail;
    Py_DECREF(types);
    Py_DECREF(errors);
    Py_DECREF(abc);
    return PyModule_Create(&moduledef);
fail:
    Py_XDECREF(types);
    Py_XDECREF(errors);
    Py_XDECREF(abc);
    return NULL;
}
