#define _GNU_SOURCE
/* C stdio as C code built by the cc crate sees it: glibc's headers, with
 * optimisation and _FORTIFY_SOURCE, so calls become __printf_chk,
 * __isoc99_sscanf, inline getc_unlocked/putc_unlocked (__uflow,
 * __overflow) and inline feof_unlocked (the FILE's _flags). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A C variadic function handing its own va_list to vfprintf/vsnprintf. */
static int report(FILE *out, const char *format, ...) {
    char buf[64];
    va_list args, copy;
    va_start(args, format);
    va_copy(copy, args);
    int n = vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    int m = vfprintf(out, format, args);
    va_end(args);
    return fprintf(out, " [vsnprintf %d %s] [vfprintf %d]\n", n, buf, m);
}

int kiln_c_stdio(const char *path) {
    int n0;
    printf("C printf %d %s %.3f %c\n", 42, "str", 2.0 / 3.0, 'z');
    printf("C puts by the compiler\n");
    report(stdout, "%s %5.2e %-4d|%lu", "va_list", 12345.678, -7, 99UL);
    report(stdout, "%g %g %g %g %g %g %g %g %g %d", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10);

    /* long double: passed in memory, 80-bit; %La shows its own mantissa. */
    printf("long double %Lf %Le %La %La %Lg %.3La %10.2Lf|\n", 1.5L, 1e10L, 1.5L, 0.1L, 0.1L, 0.1L,
           -2.25L);
    long double parsed = 0;
    n0 = sscanf("2.5e3", "%Lf", &parsed);
    printf("sscanf %%Lf %d %Lg %La\n", n0, parsed, parsed);

    char small[16];
    int n = snprintf(small, sizeof small, "%s-%d", "fortified", 123456);
    printf("snprintf %d %s\n", n, small);
    n = sprintf(small, "%x", 0xabcdefu);
    printf("sprintf %d %s\n", n, small);

    int a = 0, b = 0;
    char word[8];
    n = sscanf("17 -4 abc", "%d %d %7s", &a, &b, word);
    printf("sscanf %d %d %d %s\n", n, a, b, word);

    FILE *f = fopen(path, "w+");
    if (!f) {
        perror("fopen");
        return 1;
    }
    for (const char *p = "unlocked io\nsecond"; *p; p++)
        putc_unlocked(*p, f);
    fputs_unlocked("!\n", f);
    rewind(f);
    int c, count = 0, newlines = 0;
    while ((c = getc_unlocked(f)) != EOF) {
        count++;
        newlines += c == '\n';
    }
    printf("getc_unlocked read %d bytes, %d newlines, feof_unlocked %d ferror_unlocked %d\n",
           count, newlines, feof_unlocked(f) != 0, ferror_unlocked(f) != 0);
    clearerr_unlocked(f);
    printf("after clearerr_unlocked: feof %d\n", feof(f) != 0);
    fclose(f);
    remove(path);

    fprintf(stderr, "C stderr %d\n", 1);
    fflush(stdout);
    return 0;
}
