/* gzip.c - one buffer to a gzip member, for profile uploads.
 *
 * Why its own file: compression is half of a large period's encode on the
 * upload thread. libdeflate (whole-buffer DEFLATE, no streaming state)
 * compresses a 2 MB pprof at level 1 in less than half of zlib level 1's
 * CPU for a slightly smaller output, so builds that find it (pkg-config
 * libdeflate, Debian libdeflate-dev; the build defines SS_HAVE_LIBDEFLATE)
 * use it; others use zlib at level 1. Both write a standard gzip stream. */
#include "pprof_encoder.h"

#include <string.h>
#include <zlib.h>

#include "big_alloc.h"

#ifdef SS_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

/* Make room for `extra` more bytes after out->len. */
static int reserve(ss_bytes *out, size_t extra)
{
    if (out->cap - out->len >= extra)
        return 0;
    unsigned char *p = ss_big_realloc(out->data, out->cap, out->len + extra);
    if (!p)
        return -1;
    out->data = p;
    out->cap = out->len + extra;
    return 0;
}

int ss_gzip_zlib(const void *data, size_t len, ss_bytes *out)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    /* Level 1: level 6 costs ~3x the CPU for ~15 % smaller uploads. */
    if (deflateInit2(&zs, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    if (reserve(out, deflateBound(&zs, (uLong)len))) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *)data;
    zs.avail_in = (uInt)len;
    zs.next_out = out->data + out->len;
    zs.avail_out = (uInt)(out->cap - out->len);
    int rc = deflate(&zs, Z_FINISH);
    if (rc == Z_STREAM_END)
        out->len += zs.total_out;
    deflateEnd(&zs);
    return rc == Z_STREAM_END ? 0 : -1;
}

int ss_gzip(const void *data, size_t len, ss_bytes *out)
{
#ifdef SS_HAVE_LIBDEFLATE
    /* Level 1 as with zlib; the compressor (~half a MB of match-finder
     * tables) lives for one call only, so an idle process keeps no memory. */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(1);
    if (!c)
        return ss_gzip_zlib(data, len, out);
    size_t bound = libdeflate_gzip_compress_bound(c, len);
    size_t n = 0;
    if (reserve(out, bound) == 0)
        n = libdeflate_gzip_compress(c, data, len, out->data + out->len, out->cap - out->len);
    libdeflate_free_compressor(c);
    if (!n)
        return -1;
    out->len += n;
    return 0;
#else
    return ss_gzip_zlib(data, len, out);
#endif
}

const char *ss_gzip_library(void)
{
#ifdef SS_HAVE_LIBDEFLATE
    return "libdeflate";
#else
    return "zlib";
#endif
}
