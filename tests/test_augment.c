/* test_augment.c -- examples/fashion-cnn/augment.c: a lone bright pixel in a
 * blank 28x28 image lands where the drawn mirror and shift put it, worked
 * out here by hand (x -> 27 - x, then (y, x) -> (y + dy, x + dx)), and
 * falls off the image when moved past an edge. The draws are replayed from a
 * copy of the generator in the order augment.h documents. */
#include "augment.h"
#include "helpers.h"

#define SIDE 28
#define BLANK (-0.5)

/* x [n,1,28,28] blank but for image r's pixel (y, x), 1.0 */
static ag_tensor *lone_pixels(int n, int y, int x)
{
    ag_tensor *t = ag_tensor_zeros(4, (int[]){n, 1, SIDE, SIDE});
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < ag_tensor_size(t); i++) ag_tensor_data(t)[i] = BLANK;
    for (int r = 0; r < n; r++) ag_tensor_data(t)[(size_t)r * SIDE * SIDE + y * SIDE + x] = 1.0;
    return t;
}

/* Image r holds exactly one pixel of 1.0, at (y, x); or none (y < 0). */
static void assert_lone_pixel(const ag_tensor *t, int r, int y, int x)
{
    const double *image = ag_tensor_data(t) + (size_t)r * SIDE * SIDE;
    for (int i = 0; i < SIDE; i++)
        for (int j = 0; j < SIDE; j++) {
            double want = i == y && j == x ? 1.0 : BLANK;
            ck_assert_in_loop(image[i * SIDE + j] == want, "image %d pixel (%d,%d) is %g, want %g", r, i, j,
                              image[i * SIDE + j], want);
        }
}

START_TEST(a_shift_moves_the_pixel_by_the_drawn_offsets)
{
    enum { N = 60 };
    const augment_config c = {.flip = false, .shift = 2, .blank = BLANK};
    ag_tensor *t = lone_pixels(N, 10, 12);
    ag_rng rng = ag_rng_new(5), replay = rng;
    augment_batch(t, N, SIDE, &c, &rng);
    int seen[5][5] = {{0}}, kinds = 0;
    for (int r = 0; r < N; r++) {
        int dx = (int)ag_rng_below(&replay, 5) - 2, dy = (int)ag_rng_below(&replay, 5) - 2;
        assert_lone_pixel(t, r, 10 + dy, 12 + dx);
        kinds += !seen[dy + 2][dx + 2]++;
    }
    ck_assert_int_ge(kinds, 15); /* 60 draws of 25 offsets: all but a few seen (not all 0) */
    ck_assert_int_eq(rng.state, replay.state); /* two draws an image, no more */
    ag_tensor_free(t);
}
END_TEST

START_TEST(a_pixel_shifted_past_the_edge_is_gone)
{
    enum { N = 40 };
    const augment_config c = {.shift = 1, .blank = BLANK};
    ag_tensor *t = lone_pixels(N, 0, SIDE - 1); /* top right corner */
    ag_rng rng = ag_rng_new(11), replay = rng;
    augment_batch(t, N, SIDE, &c, &rng);
    int gone = 0;
    for (int r = 0; r < N; r++) {
        int dx = (int)ag_rng_below(&replay, 3) - 1, dy = (int)ag_rng_below(&replay, 3) - 1;
        bool off = dx > 0 || dy < 0; /* right of column 27 or above row 0 */
        assert_lone_pixel(t, r, off ? -1 : dy, off ? -1 : SIDE - 1 + dx);
        gone += off;
    }
    ck_assert_int_gt(gone, 0);
    ck_assert_int_lt(gone, N);
    ag_tensor_free(t);
}
END_TEST

START_TEST(a_mirror_then_shift_moves_column_x_to_27_minus_x_plus_dx)
{
    enum { N = 40 };
    const augment_config c = {.flip = true, .shift = 2, .blank = BLANK};
    ag_tensor *t = lone_pixels(N, 5, 3);
    ag_rng rng = ag_rng_new(3), replay = rng;
    augment_batch(t, N, SIDE, &c, &rng);
    int mirrored = 0;
    for (int r = 0; r < N; r++) {
        bool flip = ag_rng_below(&replay, 2) != 0;
        int dx = (int)ag_rng_below(&replay, 5) - 2, dy = (int)ag_rng_below(&replay, 5) - 2;
        assert_lone_pixel(t, r, 5 + dy, (flip ? 24 : 3) + dx);
        mirrored += flip;
    }
    ck_assert_int_gt(mirrored, 0);
    ck_assert_int_lt(mirrored, N);
    ag_tensor_free(t);
}
END_TEST

START_TEST(no_augmentation_draws_nothing_and_changes_nothing)
{
    const augment_config c = {.blank = BLANK};
    ag_tensor *t = lone_pixels(3, 7, 8);
    ag_rng rng = ag_rng_new(9), before = rng;
    augment_batch(t, 3, SIDE, &c, &rng);
    for (int r = 0; r < 3; r++) assert_lone_pixel(t, r, 7, 8);
    ck_assert_int_eq(rng.state, before.state);
    ag_tensor_free(t);
}
END_TEST

Suite *augment_suite(void)
{
    Suite *s = suite_create("augment");
    TCase *tc = tcase_create("fashion-cnn's mirroring and shifting");
    tcase_add_test(tc, a_shift_moves_the_pixel_by_the_drawn_offsets);
    tcase_add_test(tc, a_pixel_shifted_past_the_edge_is_gone);
    tcase_add_test(tc, a_mirror_then_shift_moves_column_x_to_27_minus_x_plus_dx);
    tcase_add_test(tc, no_augmentation_draws_nothing_and_changes_nothing);
    suite_add_tcase(s, tc);
    return s;
}
