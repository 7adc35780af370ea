"""Image folders and arrays for the pipelines: layouts, labels, and a clear error naming the file for bad input."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from pipelines.modalities.images.files import is_image_input, read_images

DIGITS = load_digits()
PIXELS = np.round(DIGITS.images * 255 / 16).astype(np.uint8)  # (1797, 8, 8)


def write_pngs(folder, images, prefix="img"):
    folder.mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{prefix}{i:03d}.png")


def test_a_flat_folder_reads_in_name_order_as_one_channel_uint8(tmp_path):
    write_pngs(tmp_path, PIXELS[:5])
    found = read_images(tmp_path)
    assert found.images.shape == (5, 8, 8, 1) and found.images.dtype == np.uint8
    np.testing.assert_array_equal(found.images[..., 0], PIXELS[:5])  # PNG is lossless
    assert found.paths == [f"img{i:03d}.png" for i in range(5)] and found.labels is None
    assert is_image_input(tmp_path)


def test_an_mvtec_layout_gives_normal_training_images_and_labelled_test_images(tmp_path):
    write_pngs(tmp_path / "train" / "good", PIXELS[:6])
    write_pngs(tmp_path / "test" / "good", PIXELS[6:8])
    write_pngs(tmp_path / "test" / "scratch", PIXELS[8:11])
    train = read_images(tmp_path, "train")
    assert len(train.images) == 6 and train.paths[0] == "train/good/img000.png" and train.labels is None
    test = read_images(tmp_path, "test")
    assert test.labels.tolist() == [0, 0, 1, 1, 1] and test.kinds == ["good"] * 2 + ["scratch"] * 3
    np.testing.assert_array_equal(test.images[2:, ..., 0], PIXELS[8:11])


def test_rgb_and_palette_images_read_as_three_channels(tmp_path):
    rgb = np.stack([PIXELS[:3]] * 3, axis=-1)
    write_pngs(tmp_path, rgb)
    Image.fromarray(rgb[0]).convert("P").save(tmp_path / "img_palette.png")
    assert read_images(tmp_path).images.shape == (4, 8, 8, 3)


def test_images_of_another_size_or_channel_count_are_refused_naming_both_files(tmp_path):
    write_pngs(tmp_path, PIXELS[:2])
    Image.fromarray(np.zeros((9, 8), np.uint8)).save(tmp_path / "odd.png")
    with pytest.raises(ValueError, match=r"odd.png' is 9 x 8 with 1 channel\(s\) but '.*img000.png' is 8 x 8"):
        read_images(tmp_path)
    (tmp_path / "odd.png").unlink()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb.png' is 8 x 8 with 3 channel"):
        read_images(tmp_path)


def test_a_truncated_or_fake_image_is_refused_naming_the_file(tmp_path):
    write_pngs(tmp_path, PIXELS[:2])
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)).save(tmp_path / "big.jpg")
    data = (tmp_path / "big.jpg").read_bytes()
    (tmp_path / "big.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"big.jpg' is not a readable image"):
        read_images(tmp_path)
    (tmp_path / "big.jpg").write_text("not an image at all")
    with pytest.raises(ValueError, match=r"big.jpg' is not a readable image"):
        read_images(tmp_path)


def test_other_files_are_skipped_with_a_warning_and_an_empty_folder_is_refused(tmp_path):
    write_pngs(tmp_path, PIXELS[:2])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.warns(UserWarning, match=r"Skipping 1 file\(s\).*'notes.txt'"):
        assert len(read_images(tmp_path).images) == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="holds no PNG or JPEG images"):
        read_images(empty)


def test_16_bit_images_are_refused_rather_than_silently_rescaled(tmp_path):
    Image.fromarray(np.full((8, 8), 40000, np.uint16)).save(tmp_path / "deep.png")
    with pytest.raises(ValueError, match="deep.png' has pixel mode"):
        read_images(tmp_path)


def test_npz_arrays_with_labels_and_their_errors(tmp_path):
    np.savez(tmp_path / "ok.npz", X=PIXELS[:10], y=(DIGITS.target[:10] != 0).astype(int))
    found = read_images(tmp_path / "ok.npz")
    assert (
        found.images.shape == (10, 8, 8, 1) and found.labels.tolist() == (DIGITS.target[:10] != 0).astype(int).tolist()
    )
    assert is_image_input(tmp_path / "ok.npz")
    np.savez(tmp_path / "table.npz", X=np.zeros((10, 4)))
    assert not is_image_input(tmp_path / "table.npz")
    bad = PIXELS[:4] / 255.0
    bad[2, 1, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=bad)
    with pytest.raises(ValueError, match=r"nan.npz': Image 2 holds NaN"):
        read_images(tmp_path / "nan.npz")
    np.savez(tmp_path / "objects.npz", X=np.array([None, 1], dtype=object))
    with pytest.raises(ValueError, match="objects.npz' is not a readable .npz of arrays"):
        read_images(tmp_path / "objects.npz")
    np.savez(tmp_path / "labels.npz", X=PIXELS[:3], y=[0, 2, 1])
    with pytest.raises(ValueError, match="y must hold one 0 .normal. or 1"):
        read_images(tmp_path / "labels.npz")


def test_the_review_plots_draw_images_and_maps():
    from pipelines.modalities.images.plots import anomaly_map_overlays, reconstruction_grid

    images = PIXELS[:4, :, :, None]
    fig = reconstruction_grid(images, images / 255.0, titles=list("abcd"))
    assert len(fig.axes) == 8
    maps = np.random.default_rng(0).uniform(size=(4, 8, 8))
    fig = anomaly_map_overlays(images, maps, np.array([5.0, 4.0, 3.0, 2.0]), threshold=3.5)
    assert len(fig.axes) == 9 and "anomaly" in fig.axes[0].get_title() and "normal" in fig.axes[2].get_title()
    assert fig.axes[-1].get_ylabel() == "pixel's negative log-likelihood (nats)"  # the maps' one colour scale
