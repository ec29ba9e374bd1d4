from engines.words import count


def test_counts_are_singular_for_one_and_plural_otherwise():
    assert [count(n, "image") for n in (0, 1, 2, 1797)] == ["0 images", "1 image", "2 images", "1,797 images"]
    assert count(1, "class") == "1 class" and count(3, "class") == "3 classes"
    assert count(2, "matrix", "matrices") == "2 matrices"


def test_a_one_image_dataset_is_described_in_the_singular(tmp_path):
    import numpy as np
    from PIL import Image

    from engines.data import load_images

    (tmp_path / "only").mkdir()
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "only" / "a.png")
    summary = load_images([str(tmp_path)], size=16, use_cache=False).summary()
    assert summary.startswith("1 image, ") and "1 images" not in summary
