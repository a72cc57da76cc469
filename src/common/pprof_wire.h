/* pprof_wire.h - protobuf wire-format writers for the pprof encoder.
 *
 * Why: packing through protobuf-c costs two walks of a message tree built
 * only to be packed (get_packed_size, then pack), plus building that tree:
 * about a third of a large period's encode. The encoder writes the wire
 * format itself in one pass instead, with these few helpers; tests and the
 * fuzzer still decode its output with protobuf-c, an independent reader.
 * Callers reserve space first: every writer assumes room for its bytes. */
#ifndef SS_PPROF_WIRE_H
#define SS_PPROF_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Protobuf wire types used by pprof. */
#define SS_WIRE_VARINT 0
#define SS_WIRE_LEN 2
#define SS_WIRE_TAG(field, type) ((uint32_t)(field) << 3 | (type))

/* Bytes the varint encoding of v takes (1..10). */
static inline size_t ss_varint_size(uint64_t v)
{
    return ((size_t)(64 - __builtin_clzll(v | 1)) + 6) / 7;
}

static inline unsigned char *ss_put_varint(unsigned char *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *p++ = (unsigned char)v;
    return p;
}

/* A varint field, omitted when zero (proto3 default: decoders read it as 0). */
static inline unsigned char *ss_put_uint_field(unsigned char *p, uint32_t field, uint64_t v)
{
    if (!v)
        return p;
    *p++ = (unsigned char)SS_WIRE_TAG(field, SS_WIRE_VARINT);   /* fields < 16: one byte */
    return ss_put_varint(p, v);
}

/* Size ss_put_uint_field writes. */
static inline size_t ss_uint_field_size(uint64_t v)
{
    return v ? 1 + ss_varint_size(v) : 0;
}

/* Tag and length of a length-delimited field whose body follows. */
static inline unsigned char *ss_put_len_header(unsigned char *p, uint32_t field, uint64_t len)
{
    *p++ = (unsigned char)SS_WIRE_TAG(field, SS_WIRE_LEN);
    return ss_put_varint(p, len);
}

#endif
