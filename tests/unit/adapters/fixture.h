/* fixture.h: read a file of tests/fixtures/interop (SIO_FIXTURES). */
#ifndef SIO_TEST_ADAPTERS_FIXTURE_H
#define SIO_TEST_ADAPTERS_FIXTURE_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>

static inline unsigned char *fixture(const char *name, size_t *len)
{
    const char *dir = getenv("SIO_FIXTURES");
    cr_assert_not_null(dir, "SIO_FIXTURES not set");
    char path[1024];
    snprintf(path, sizeof path, "%s/interop/%s", dir, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    unsigned char *buf = malloc(1 << 16);
    cr_assert_not_null(buf);
    *len = fread(buf, 1, 1 << 16, f);
    fclose(f);
    return buf;
}

#endif
