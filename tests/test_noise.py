import numpy as np

from detector.anomalies.noise import gaussian_noise, mix_set, shuffle_tiles, uniform_noise


def test_noise_sets_are_seeded_in_range_and_shaped():
    g = gaussian_noise(50, (1, 28, 28), seed=3)
    np.testing.assert_array_equal(g, gaussian_noise(50, (1, 28, 28), seed=3))
    assert g.shape == (50, 1, 28, 28) and g.min() == 0 and g.max() == 1
    assert 0.3 < np.mean(g == 0) < 0.4  # N(0.5, 1) clipped: P(x < 0) = 0.31
    u = uniform_noise(50, (3, 32, 32), seed=3)
    assert u.shape == (50, 3, 32, 32) and 0.45 < u.mean() < 0.55


def test_shuffle_tiles_moves_tiles_without_changing_pixels():
    images = np.random.default_rng(0).uniform(0, 1, (5, 1, 28, 28)).astype(np.float32)
    shuffled = shuffle_tiles(images, np.random.default_rng(1))
    np.testing.assert_array_equal(np.sort(shuffled.reshape(5, -1), 1), np.sort(images.reshape(5, -1), 1))
    assert not np.array_equal(shuffled, images)


def test_mix_set_is_generated_from_id_images_and_contains_none_of_them(digits):
    val = digits["val"]
    mix = mix_set(val.images, val.labels, seed=1)
    assert mix.shape[1:] == val.images.shape[1:] and len(mix) == 5 * (len(val.images) // 5)
    assert mix.min() >= 0 and mix.max() <= 1
    originals = {image.tobytes() for image in val.images}
    assert not any(image.tobytes() in originals for image in mix)
    np.testing.assert_array_equal(mix, mix_set(val.images, val.labels, seed=1))
