/* pprof_rows.c - one pprof attachment straight to the explorer's rows, in C.
 *
 * The explorer's cold path (a merge of 200 profiles nobody opened since the
 * server started) was bound by decoding: the pure-Python reader in
 * serve/pprof_reader.py spends ~75 ms on a 3,000-stack profile and building
 * rows from its objects another ~25 ms.  With the tables read by
 * pprof_wire.c (the same rules as that reader), this file emits what
 * profile_aggregate.py keeps:
 * distinct (stack of interned frame ids, label set) rows and one value column
 * per sample type.  Any doubt (a rule broken, a sum past int64) raises
 * ValueError and the caller takes the pure-Python path, whose answer is the
 * authoritative one; this file never decides that a profile is bad.
 */
#include "pprof_wire.h"
#include "../py_compat.h"

#include <stdlib.h>
#include <string.h>

/* Where the frame ids of a location are made: the caller's interning. */
typedef struct {
    decoder_t *d;
    PyObject *frame_ids; /* dict (name, file) -> frame id: FrameTable.ids */
    PyObject *intern;    /* FrameTable.intern(name, file, line) on a miss */
    PyObject *pending;   /* list of frame ids, callee first, being built */
} frame_builder_t;

static PyObject *intern_frame(frame_builder_t *b, PyObject *name, PyObject *file, long long line)
{
    PyObject *key = PyTuple_Pack(2, name, file);
    if (key == NULL)
        return NULL;
    PyObject *found = PyDict_GetItemWithError(b->frame_ids, key);
    Py_DECREF(key);
    if (found != NULL)
        return Py_NewRef(found);
    if (PyErr_Occurred())
        return NULL;
    return PyObject_CallFunction(b->intern, "OOL", name, file, line);
}

static int add_line_frame(void *context, uint64_t function_id, int64_t line)
{
    frame_builder_t *b = context;
    long index = function_id ? id_find(&b->d->function_ids, function_id) : -1;
    if (index < 0)
        return 0; /* no function: this line adds no frame */
    const function_t *function = &b->d->function_items[index];
    PyObject *name = text(b->d, function->name);
    if (PyUnicode_GET_LENGTH(name) == 0)
        name = text(b->d, function->system_name);
    PyObject *unknown = NULL;
    if (PyUnicode_GET_LENGTH(name) == 0)
        name = unknown = PyUnicode_FromString("<unknown>");
    if (name == NULL)
        return -1;
    PyObject *frame = intern_frame(b, name, text(b->d, function->filename),
                                   function->start_line ? function->start_line : line);
    Py_XDECREF(unknown);
    if (frame == NULL)
        return -1;
    int result = PyList_Append(b->pending, frame);
    Py_DECREF(frame);
    return result;
}

/* The location's frames, caller first (pprof lists inlined callees first). */
static PyObject *location_frames(frame_builder_t *b, location_t *location)
{
    if (location->frames != NULL)
        return location->frames;
    b->pending = PyList_New(0);
    if (b->pending == NULL)
        return NULL;
    if (location_lines(b->d, location, add_line_frame, b) < 0)
        goto error;
    if (PyList_GET_SIZE(b->pending) == 0) {
        long mapping = location->mapping_id ? id_find(&b->d->mapping_ids, location->mapping_id) : -1;
        PyObject *where = mapping >= 0 ? text(b->d, b->d->mapping_items[mapping].filename) : NULL;
        PyObject *file = where != NULL && PyUnicode_GET_LENGTH(where) ? Py_NewRef(where)
                                                                      : PyUnicode_FromString("<unknown>");
        PyObject *name = PyUnicode_FromFormat("0x%llx", (unsigned long long)location->address);
        PyObject *frame = file && name ? intern_frame(b, name, file, 0) : NULL;
        Py_XDECREF(file);
        Py_XDECREF(name);
        if (frame == NULL || PyList_Append(b->pending, frame) < 0) {
            Py_XDECREF(frame);
            goto error;
        }
        Py_DECREF(frame);
    }
    if (PyList_Reverse(b->pending) < 0)
        goto error;
    location->frames = PyList_AsTuple(b->pending);
    Py_CLEAR(b->pending);
    return location->frames;
error:
    Py_CLEAR(b->pending);
    return NULL;
}


/* The rows being built: one per distinct (stack, label set). */
typedef struct {
    PyObject *index;      /* dict (stack, labels) -> row number */
    PyObject *stacks;     /* list of stack tuples */
    PyObject *label_sets; /* list of label-set tuples */
    int64_t *sums;        /* row-major: rows x type_count */
    size_t capacity;      /* rows the sums can hold */
    size_t type_count;
} rows_t;

static void rows_free(rows_t *rows)
{
    Py_XDECREF(rows->index);
    Py_XDECREF(rows->stacks);
    Py_XDECREF(rows->label_sets);
    free(rows->sums);
}

/* The row of (stack, labels), made with zero sums when new; -1 on error. */
static Py_ssize_t row_of(rows_t *rows, PyObject *stack, PyObject *labels)
{
    PyObject *key = PyTuple_Pack(2, stack, labels);
    if (key == NULL)
        return -1;
    PyObject *found = PyDict_GetItemWithError(rows->index, key);
    if (found != NULL) {
        Py_DECREF(key);
        return PyLong_AsSsize_t(found);
    }
    Py_ssize_t row = PyList_GET_SIZE(rows->stacks);
    PyObject *number = PyErr_Occurred() ? NULL : PyLong_FromSsize_t(row);
    int failed = number == NULL || PyDict_SetItem(rows->index, key, number) < 0
                 || PyList_Append(rows->stacks, stack) < 0 || PyList_Append(rows->label_sets, labels) < 0;
    Py_XDECREF(number);
    Py_DECREF(key);
    if (failed)
        return -1;
    if ((size_t)row == rows->capacity) {
        size_t capacity = rows->capacity ? rows->capacity * 2 : 256;
        int64_t *sums = realloc(rows->sums, capacity * (rows->type_count ? rows->type_count : 1) * sizeof *sums);
        if (sums == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        rows->sums = sums;
        rows->capacity = capacity;
    }
    memset(rows->sums + (size_t)row * rows->type_count, 0, rows->type_count * sizeof *rows->sums);
    return row;
}

/* One Sample message, decoded into buffers the sample loop reuses. */
typedef struct {
    uint64_t *location_ids;
    size_t location_count, location_capacity;
    int64_t values[MAX_VALUES_PER_SAMPLE];
    size_t value_count;
    span_t labels[MAX_LABELS_PER_SAMPLE];
    size_t label_count;
} sample_t;

static int push_location_id(void *context, uint64_t value)
{
    sample_t *sample = context;
    if (sample->location_count == sample->location_capacity) {
        size_t capacity = sample->location_capacity ? sample->location_capacity * 2 : 64;
        uint64_t *ids = realloc(sample->location_ids, capacity * sizeof *ids);
        if (ids == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        sample->location_ids = ids;
        sample->location_capacity = capacity;
    }
    sample->location_ids[sample->location_count++] = value;
    return 0;
}

static int push_value(void *context, uint64_t value)
{
    sample_t *sample = context;
    if (sample->value_count >= MAX_VALUES_PER_SAMPLE)
        return fail("sample has too many values");
    sample->values[sample->value_count++] = (int64_t)value;
    return 0;
}

static int read_sample(const decoder_t *d, span_t message, sample_t *sample)
{
    sample->location_count = sample->value_count = sample->label_count = 0;
    size_t pos = message.start;
    field_t field;
    int got;
    while ((got = next_field(d->data, &pos, message.end, &field)) == 1) {
        if (field.number == 1) {
            if (repeated_ints(d, &field, push_location_id, sample) < 0)
                return -1;
        } else if (field.number == 2) {
            if (repeated_ints(d, &field, push_value, sample) < 0)
                return -1;
        } else if (field.number == 3) {
            if (expect_wire(&field, WIRE_LEN) < 0)
                return -1;
            if (sample->label_count == MAX_LABELS_PER_SAMPLE)
                return fail("sample has too many labels");
            sample->labels[sample->label_count++] = field.span;
        }
    }
    return got;
}

/* Whether a label key names one thing (a thread id, a span id): not grouped. */
static int key_skipped(decoder_t *d, uint64_t key, PyObject *skip_suffixes)
{
    if (d->label_key_skipped[key] < 0) {
        Py_ssize_t hit = 0;
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(skip_suffixes) && !hit; i++) {
            hit = PyUnicode_Tailmatch(text(d, key), PyTuple_GET_ITEM(skip_suffixes, i), 0, PY_SSIZE_T_MAX, 1);
            if (hit < 0)
                return -1;
        }
        d->label_key_skipped[key] = (signed char)(hit != 0);
    }
    return d->label_key_skipped[key];
}

/* The sample's label set: sorted (key, value) pairs worth grouping by. */
static PyObject *label_set(decoder_t *d, const sample_t *sample, PyObject *skip_suffixes, PyObject *pool)
{
    PyObject *pairs[MAX_LABELS_PER_SAMPLE];
    size_t count = 0;
    PyObject *result = NULL;
    for (size_t i = 0; i < sample->label_count; i++) {
        uint64_t key = 0, str = 0, unit = 0;
        size_t pos = sample->labels[i].start;
        field_t field;
        int got;
        while ((got = next_field(d->data, &pos, sample->labels[i].end, &field)) == 1) {
            if (field.wire != WIRE_VARINT)
                continue;
            if (field.number == 1)
                key = field.value;
            else if (field.number == 2)
                str = field.value;
            else if (field.number == 4)
                unit = field.value;
        }
        if (got < 0 || !text(d, key) || !text(d, str) || !text(d, unit))
            goto done;
        if (PyUnicode_GET_LENGTH(text(d, str)) == 0)
            continue;
        int skipped = key_skipped(d, key, skip_suffixes);
        if (skipped < 0)
            goto done;
        if (skipped)
            continue;
        PyObject *pair = PyTuple_Pack(2, text(d, key), text(d, str));
        if (pair == NULL)
            goto done;
        /* Insertion sort: a sample has a handful of labels. */
        size_t at = count++;
        while (at > 0) {
            int greater = PyObject_RichCompareBool(pairs[at - 1], pair, Py_GT);
            if (greater < 0) {
                pairs[at] = pair;
                goto done;
            }
            if (!greater)
                break;
            pairs[at] = pairs[at - 1];
            at--;
        }
        pairs[at] = pair;
    }
    PyObject *set = PyTuple_New((Py_ssize_t)count);
    if (set == NULL)
        goto done;
    for (size_t i = 0; i < count; i++)
        PyTuple_SET_ITEM(set, (Py_ssize_t)i, Py_NewRef(pairs[i]));
    result = PyDict_SetDefault(pool, set, set);
    Py_XINCREF(result);
    Py_DECREF(set);
done:
    for (size_t i = 0; i < count; i++)
        Py_DECREF(pairs[i]);
    return result;
}

/* The sample's stack, root first, as the pool's shared tuple. */
static PyObject *sample_stack(frame_builder_t *b, const sample_t *sample, PyObject *pool)
{
    Py_ssize_t depth = 0;
    for (size_t i = 0; i < sample->location_count; i++) {
        long index = id_find(&b->d->location_ids, sample->location_ids[i]);
        if (index < 0)
            return fail("sample names an unknown location"), NULL;
        PyObject *frames = location_frames(b, &b->d->location_items[index]);
        if (frames == NULL)
            return NULL;
        depth += PyTuple_GET_SIZE(frames);
    }
    PyObject *stack = PyTuple_New(depth);
    if (stack == NULL)
        return NULL;
    Py_ssize_t at = 0;
    for (size_t i = sample->location_count; i-- > 0;) {
        PyObject *frames = b->d->location_items[id_find(&b->d->location_ids, sample->location_ids[i])].frames;
        for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(frames); j++)
            PyTuple_SET_ITEM(stack, at++, Py_NewRef(PyTuple_GET_ITEM(frames, j)));
    }
    PyObject *shared = PyDict_SetDefault(pool, stack, stack);
    Py_XINCREF(shared);
    Py_DECREF(stack);
    return shared;
}

static int add_rows(decoder_t *d, frame_builder_t *b, rows_t *rows, const limits_t *limits,
                    PyObject *stack_pool, PyObject *label_pool, PyObject *skip_suffixes)
{
    sample_t sample = {0};
    long long location_refs = 0;
    int result = -1;
    d->label_key_skipped = malloc(d->strings.count);
    if (d->label_key_skipped == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    memset(d->label_key_skipped, -1, d->strings.count);
    for (size_t i = 0; i < d->samples.count; i++) {
        if (read_sample(d, d->samples.items[i], &sample) < 0)
            goto done;
        location_refs += (long long)sample.location_count;
        if (location_refs > limits->max_location_refs) {
            fail("over the limit of location references");
            goto done;
        }
        if (sample.value_count != rows->type_count) {
            fail("sample has not one value per sample_type");
            goto done;
        }
        PyObject *stack = sample_stack(b, &sample, stack_pool);
        PyObject *labels = stack ? label_set(d, &sample, skip_suffixes, label_pool) : NULL;
        Py_ssize_t row = labels ? row_of(rows, stack, labels) : -1;
        Py_XDECREF(stack);
        Py_XDECREF(labels);
        if (row < 0)
            goto done;
        int64_t *sums = rows->sums + (size_t)row * rows->type_count;
        for (size_t t = 0; t < rows->type_count; t++)
            if (__builtin_add_overflow(sums[t], sample.values[t], &sums[t])) {
                fail("a row's sum is past int64");
                goto done;
            }
    }
    result = 0;
done:
    free(sample.location_ids);
    return result;
}

static PyObject *value_type(decoder_t *d, span_t message)
{
    uint64_t type = 0, unit = 0;
    size_t pos = message.start;
    field_t field;
    int got;
    while ((got = next_field(d->data, &pos, message.end, &field)) == 1) {
        if (field.number != 1 && field.number != 2)
            continue;
        if (expect_wire(&field, WIRE_VARINT) < 0)
            return NULL;
        if (field.number == 1)
            type = field.value;
        else
            unit = field.value;
    }
    if (got < 0 || !text(d, type) || !text(d, unit))
        return NULL;
    return PyTuple_Pack(2, text(d, type), text(d, unit));
}

static PyObject *header(decoder_t *d, size_t sample_count)
{
    PyObject *types = PyList_New(0), *comments = PyList_New(0), *period_type = NULL, *result = NULL;
    if (types == NULL || comments == NULL)
        goto done;
    for (size_t i = 0; i < d->sample_types.count; i++) {
        PyObject *pair = value_type(d, d->sample_types.items[i]);
        if (pair == NULL || PyList_Append(types, pair) < 0) {
            Py_XDECREF(pair);
            goto done;
        }
        Py_DECREF(pair);
    }
    for (size_t i = 0; i < d->comments.count; i++)
        if (!text(d, d->comments.items[i].start) || PyList_Append(comments, text(d, d->comments.items[i].start)) < 0)
            goto done;
    period_type = d->has_period_type ? value_type(d, d->period_type) : Py_NewRef(Py_None);
    if (period_type == NULL || d->default_sample_type < 0 || !text(d, (uint64_t)d->default_sample_type)) {
        if (!PyErr_Occurred())
            fail("default_sample_type out of range");
        goto done;
    }
    result = Py_BuildValue("{sOsOsLsLsLsOsOsn}", "sample_types", types, "period_type", period_type,
                           "period", (long long)d->period, "time_nanos", (long long)d->time_nanos,
                           "duration_nanos", (long long)d->duration_nanos, "comments", comments,
                           "default_sample_type", text(d, (uint64_t)d->default_sample_type),
                           "samples", (Py_ssize_t)sample_count);
done:
    Py_XDECREF(types);
    Py_XDECREF(comments);
    Py_XDECREF(period_type);
    return result;
}

static PyObject *columns(const rows_t *rows)
{
    Py_ssize_t count = PyList_GET_SIZE(rows->stacks);
    PyObject *result = PyList_New((Py_ssize_t)rows->type_count);
    for (size_t t = 0; result != NULL && t < rows->type_count; t++) {
        PyObject *column = PyList_New(count);
        if (column == NULL) {
            Py_CLEAR(result);
            break;
        }
        PyList_SET_ITEM(result, (Py_ssize_t)t, column);
        for (Py_ssize_t row = 0; row < count; row++) {
            PyObject *value = PyLong_FromLongLong(rows->sums[(size_t)row * rows->type_count + t]);
            if (value == NULL) {
                Py_CLEAR(result);
                break;
            }
            PyList_SET_ITEM(column, row, value);
        }
    }
    return result;
}

PyDoc_STRVAR(aggregate_doc,
"aggregate(data, limits, frame_ids, intern, stack_pool, label_pool, skip_suffixes)\n"
"-> (header, stacks, label_sets, columns)\n\n"
"Rows of one uncompressed pprof message: distinct (stack, label set) with\n"
"summed values, one column per sample type. limits = (max_samples,\n"
"max_locations, max_functions, max_strings, max_location_refs). Frames are\n"
"looked up in frame_ids[(name, file)] and made with intern(name, file,\n"
"line); stacks and label sets are shared through the pool dicts. Raises\n"
"ValueError on anything the pure-Python reader might judge otherwise.");

static PyObject *aggregate(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer buffer;
    limits_t limits;
    PyObject *frame_ids, *intern, *stack_pool, *label_pool, *skip_suffixes;
    if (!PyArg_ParseTuple(args, "y*(LLLLL)O!OO!O!O!", &buffer, &limits.max_samples, &limits.max_locations,
                          &limits.max_functions, &limits.max_strings, &limits.max_location_refs,
                          &PyDict_Type, &frame_ids, &intern, &PyDict_Type, &stack_pool, &PyDict_Type,
                          &label_pool, &PyTuple_Type, &skip_suffixes))
        return NULL;
    decoder_t d = {.data = buffer.buf, .size = (size_t)buffer.len};
    frame_builder_t builder = {.d = &d, .frame_ids = frame_ids, .intern = intern};
    rows_t rows = {.index = PyDict_New(), .stacks = PyList_New(0), .label_sets = PyList_New(0)};
    PyObject *result = NULL;
    if (rows.index == NULL || rows.stacks == NULL || rows.label_sets == NULL)
        goto done;
    if (scan_top_level(&d, &limits) < 0 || decode_strings(&d) < 0 || decode_functions(&d) < 0
        || decode_mappings(&d) < 0 || decode_locations(&d) < 0)
        goto done;
    rows.type_count = d.sample_types.count;
    if (rows.type_count > MAX_VALUES_PER_SAMPLE) {
        fail("too many sample types");
        goto done;
    }
    PyObject *head = header(&d, d.samples.count);
    if (head == NULL)
        goto done;
    if (add_rows(&d, &builder, &rows, &limits, stack_pool, label_pool, skip_suffixes) < 0) {
        Py_DECREF(head);
        goto done;
    }
    PyObject *values = columns(&rows);
    if (values == NULL) {
        Py_DECREF(head);
        goto done;
    }
    result = Py_BuildValue("(NOON)", head, rows.stacks, rows.label_sets, values);
done:
    rows_free(&rows);
    decoder_free(&d);
    PyBuffer_Release(&buffer);
    return result;
}

static PyMethodDef methods[] = {
    {"aggregate", aggregate, METH_VARARGS, aggregate_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stacksight.serve._pprof_rows",
    .m_doc = "pprof attachments to explorer rows (see profile_aggregate.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__pprof_rows(void)
{
    return PyModule_Create(&module_def);
}
