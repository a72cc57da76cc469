/* curl_loader.c - dlopen() of libcurl at the first upload (see curl_loader.h). */
#include "curl_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static ss_curl_api api;             /* filled by load(); valid iff loaded */
static int loaded;                  /* 1: every entry of api is set and curl is initialised */
static const char *load_error;      /* why loading failed; static text or load_error_text */
static char load_error_text[512];   /* load_error when it names the library path */

/* Symbol names in the order of ss_curl_api's fields. */
static const char *const symbols[] = {
    "curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_perform",
    "curl_easy_getinfo", "curl_easy_cleanup", "curl_easy_strerror", "curl_easy_escape",
    "curl_free", "curl_slist_append", "curl_slist_free_all", "curl_mime_init",
    "curl_mime_addpart", "curl_mime_name", "curl_mime_filename", "curl_mime_type",
    "curl_mime_data", "curl_mime_free",
};
_Static_assert(sizeof symbols / sizeof symbols[0] == sizeof(ss_curl_api) / sizeof(void (*)(void)),
               "one symbol per ss_curl_api field");

static void load(void)
{
    /* RTLD_LOCAL: libcurl's symbols stay out of the global namespace, so a
     * program that brings its own libcurl (pycurl, a Ruby gem) keeps it. */
    const char *path = getenv("STACKSIGHT_LIBCURL");   /* a libcurl outside the loader's path */
    void *lib;
    if (path != NULL && path[0] != '\0') {
        lib = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
        if (lib == NULL) {
            snprintf(load_error_text, sizeof load_error_text,
                     "STACKSIGHT_LIBCURL=%.300s cannot be loaded", path);
            load_error = load_error_text;
            return;
        }
    } else {
        lib = dlopen("libcurl.so.4", RTLD_LAZY | RTLD_LOCAL);
        if (lib == NULL)
            lib = dlopen("libcurl.so", RTLD_LAZY | RTLD_LOCAL);
        if (lib == NULL) {
            load_error = "libcurl.so.4 cannot be loaded (install libcurl4, or set STACKSIGHT_LIBCURL "
                         "to the library's path)";
            return;
        }
    }
    void (*fns[sizeof symbols / sizeof symbols[0]])(void);
    for (size_t i = 0; i < sizeof symbols / sizeof symbols[0]; i++) {
        void *sym = dlsym(lib, symbols[i]);
        if (sym == NULL) {
            load_error = "the libcurl found lacks a function uploads need (libcurl >= 7.56 required)";
            return;                 /* the library stays loaded: dlclose buys nothing */
        }
        memcpy(&fns[i], &sym, sizeof sym);   /* object to function pointer, as POSIX allows */
    }
    memcpy(&api, fns, sizeof api);
    if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        load_error = "curl_global_init failed";
        return;
    }
    loaded = 1;
}

const ss_curl_api *ss_curl(const char **why)
{
    pthread_once(&load_once, load);
    if (why)
        *why = loaded ? NULL : load_error;
    return loaded ? &api : NULL;
}
