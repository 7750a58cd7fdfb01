/* C code as crates bundle it: ctype macros, the strtol/strtod families,
 * string.h (fortified), qsort, libm with errno, assert. Each function
 * writes its answers into a buffer the Rust side prints; no stdio. */
#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Appends text to the output buffer. */
static void put(char *out, size_t size, const char *text) {
    size_t used = strlen(out);
    size_t room = size - used - 1;
    strncat(out + used, text, room);
}

/* Appends a number in decimal, without stdio. */
static void put_long(char *out, size_t size, long value) {
    char digits[24];
    int at = (int)sizeof digits - 1;
    unsigned long magnitude = value < 0 ? 0UL - (unsigned long)value : (unsigned long)value;
    digits[at] = '\0';
    do {
        digits[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (value < 0)
        digits[--at] = '-';
    put(out, size, digits + at);
    put(out, size, " ");
}

/* Classifies each byte of text with the ctype macros and folds its case. */
void probe_ctype(const char *text, char *out, size_t size) {
    char folded[64];
    size_t i;
    for (i = 0; text[i] != '\0' && i < sizeof folded - 1; i++) {
        unsigned char c = (unsigned char)text[i];
        put_long(out, size,
                 (isalpha(c) ? 1 : 0) | (isdigit(c) ? 2 : 0) | (isspace(c) ? 4 : 0) |
                     (ispunct(c) ? 8 : 0) | (isupper(c) ? 16 : 0) | (isxdigit(c) ? 32 : 0));
        folded[i] = (char)(i % 2 ? toupper(c) : tolower(c));
    }
    folded[i] = '\0';
    put(out, size, folded);
}

/* Parses numbers the way configuration readers do. */
void probe_numbers(char *out, size_t size) {
    const char *inputs[] = {"  123abc", "-0x7fffffffffffffff", "99999999999999999999", "0777", "z"};
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        char *end;
        errno = 0;
        long value = strtol(inputs[i], &end, 0);
        put_long(out, size, value);
        put_long(out, size, (long)(end - inputs[i]));
        put_long(out, size, errno);
    }
    put_long(out, size, atoi("  42 "));
    errno = 0;
    double d = strtod("1e-5000", NULL);
    put_long(out, size, d == 0.0);
    put_long(out, size, errno);
    put_long(out, size, (long)(strtod("0x1.8p4", NULL)));
    put_long(out, size, (long)(atof("2.5e3")));
}

static int by_number(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Sorts, searches, copies (fortified: the sizes are known here). */
void probe_strings(char *out, size_t size, const char *word) {
    int numbers[] = {5, -3, 17, 0, 5, 2};
    qsort(numbers, 6, sizeof *numbers, by_number);
    for (int i = 0; i < 6; i++)
        put_long(out, size, numbers[i]);
    int key = 17;
    int *found = bsearch(&key, numbers, 6, sizeof *numbers, by_number);
    put_long(out, size, found ? (long)(found - numbers) : -1);
    char copy[32];
    strcpy(copy, word);
    strcat(copy, "-suffix");
    put(out, size, copy);
    put(out, size, " ");
    char *dup = strdup(copy);
    put_long(out, size, strcmp(dup, copy));
    put_long(out, size, (long)strlen(dup));
    put(out, size, strstr(dup, "suf") ? strstr(dup, "suf") : "none");
    put(out, size, " ");
    put(out, size, strchr(dup, '-') + 1);
    free(dup);
    char buffer[8];
    memset(buffer, 'x', sizeof buffer);
    memcpy(buffer, word, strlen(word) < 7 ? strlen(word) : 7);
    buffer[7] = '\0';
    put(out, size, " ");
    put(out, size, buffer);
}

/* libm from C, with errno as glibc sets it. */
void probe_math(char *out, size_t size) {
    errno = 0;
    double l = log(-1.0);
    put_long(out, size, isnan(l) ? 1 : 0);
    put_long(out, size, errno);
    errno = 0;
    double e = exp(1000.0);
    put_long(out, size, isinf(e) ? 1 : 0);
    put_long(out, size, errno);
    put_long(out, size, lround(sqrt(2.0) * 1e6));
    put_long(out, size, lround(sin(1.0) * 1e9));
    put_long(out, size, lround(pow(2.0, 10.5) * 1e3));
    put_long(out, size, lround(atan2(1.0, -1.0) * 1e9));
    put_long(out, size, (long)floor(-2.5));
    put_long(out, size, lround(fmod(10.0, 3.0)));
}

/* A failing assert in C: glibc's message, then abort. */
void probe_assert(int value) {
    assert(value == 42);
}
