/* curl_loader.h - libcurl, loaded when the first upload needs it.
 *
 * Why this file exists: libcurl pulls about thirty shared libraries (TLS,
 * Kerberos, LDAP, IDN...) into the process. Linked normally, every profiled
 * process pays for loading and relocating them at start-up, about 8 ms of
 * CPU: a large share of what a short-lived process (a CLI, a cron job, a
 * pool worker) is charged for being profiled, and wasted entirely when the
 * profiles go to files. The exporter therefore calls libcurl through this
 * table, filled by dlopen() on the upload thread at the first upload.
 *
 * The headers are compiled against (types, option constants); the library
 * is found by its soname, libcurl.so.4, which libcurl has kept since 7.16. */
#ifndef SS_CURL_LOADER_H
#define SS_CURL_LOADER_H

#include <curl/curl.h>

/* The libcurl functions the exporter uses, resolved from one library. */
typedef struct ss_curl_api {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *easy, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *easy);
    CURLcode (*easy_getinfo)(CURL *easy, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *easy);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *easy, const char *string, int length);
    void (*free)(void *p);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *string);
    void (*slist_free_all)(struct curl_slist *list);
    curl_mime *(*mime_init)(CURL *easy);
    curl_mimepart *(*mime_addpart)(curl_mime *mime);
    CURLcode (*mime_name)(curl_mimepart *part, const char *name);
    CURLcode (*mime_filename)(curl_mimepart *part, const char *filename);
    CURLcode (*mime_type)(curl_mimepart *part, const char *mimetype);
    CURLcode (*mime_data)(curl_mimepart *part, const char *data, size_t datasize);
    void (*mime_free)(curl_mime *mime);
} ss_curl_api;

/* Loads and initialises libcurl once per process (thread-safe); later calls
 * return the same answer. NULL when the library cannot be loaded, lacks a
 * function or fails curl_global_init: `why` (may be NULL) then gets a
 * static explanation for the one warning the caller logs. */
const ss_curl_api *ss_curl(const char **why);

#endif
