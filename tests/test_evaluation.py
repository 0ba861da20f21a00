"""The measurements of echo_segmentation.evaluation against answers known in advance."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from echo_from_noise.contract import sector_to_camus
from echo_from_noise.errors import UserError
from echo_from_noise.files import list_pngs, read_png
from echo_segmentation.evaluation.adherence import adherence_dice
from echo_segmentation.evaluation import memorisation_control, realism
from echo_segmentation.evaluation.distances import (frechet_distance, kernel_distance,
                                                           kid_replicates, mmd2_of_counts,
                                                           polynomial_kernels, polynomial_mmd2)
from echo_segmentation.evaluation.floor import check_unseen, learnt_patients, split_halves
from echo_segmentation.evaluation.diversity import (between_image_distance,
                                                           between_image_ssim, random_pairs,
                                                           seed_groups, within_map_distance,
                                                           within_map_ssim)
from echo_segmentation.evaluation.features import FeatureNetwork
from echo_segmentation.evaluation.memorisation import (memorised_fraction,
                                                              nearest_by_features,
                                                              nearest_by_ssim)
from echo_segmentation.evaluation.ssim import image_stack, paired_ssim, pairwise_ssim
from echo_segmentation.evaluation.standardisation import Standardisation

VIEWS = ("2CH_ED", "2CH_ES", "4CH_ED", "4CH_ES")


def gaussian_sample(rng, n, mean, cov):
    return rng.multivariate_normal(mean, cov, size=n)


def sample_frechet(a, b):
    """The closed form on the sample statistics, with Tr (S_a S_b)^(1/2) from symmetric
    eigenvalues: the eigenvalues of S_a S_b are those of S_a^(1/2) S_b S_a^(1/2)."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = scipy.linalg.sqrtm(s_a).real
    eigenvalues = np.linalg.eigvalsh(root_a @ s_b @ root_a).clip(min=0)
    return ((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b) - 2 * np.sqrt(eigenvalues).sum()


# --- distances -----------------------------------------------------------------------------------
@pytest.mark.parametrize("n, dim", [(300, 32), (40, 64)])  # the second: singular covariance
def test_frechet_distance_of_a_set_to_itself_is_zero(n, dim):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(n, dim)) @ rng.normal(size=(dim, dim))
    assert abs(frechet_distance(a, a)) < 1e-6 * np.trace(np.cov(a, rowvar=False))


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(1)
    mix = rng.normal(size=(6, 6))
    a = gaussian_sample(rng, 400, np.zeros(6), np.eye(6))
    b = gaussian_sample(rng, 300, np.full(6, 0.5), mix @ mix.T)
    assert frechet_distance(a, b) == pytest.approx(sample_frechet(a, b), rel=1e-8)
    # large samples of diagonal Gaussians: ||mu1 - mu2||^2 + sum (s1 - s2)^2 for std s
    std_a, std_b = np.array([1.0, 2.0, 0.5]), np.array([1.5, 1.0, 0.5])
    a = rng.normal(size=(100_000, 3)) * std_a
    b = rng.normal(size=(100_000, 3)) * std_b + np.array([1.0, 0.0, -2.0])
    expected = 1.0 + 4.0 + ((std_a - std_b) ** 2).sum()
    assert frechet_distance(a, b) == pytest.approx(expected, rel=0.02)


def test_polynomial_mmd_follows_its_definition():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3)) + 1
    k = lambda u, v: (u @ v / 3 + 1) ** 3  # noqa: E731
    pairs = [(i, j) for i in range(5) for j in range(5) if i != j]
    expected = (sum(k(x[i], x[j]) + k(y[i], y[j]) for i, j in pairs) / 20
                - 2 * sum(k(x[i], y[j]) for i in range(5) for j in range(5)) / 25)
    assert polynomial_mmd2(x, y) == pytest.approx(expected, rel=1e-12)


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_for_shifted():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_distance(a, b, subsets=20, subset_size=200)
    shifted, spread = kernel_distance(a, b + 1.0, subsets=20, subset_size=200)
    assert abs(same) < 0.02 and shifted > 0.5 and shifted > 20 * abs(same) and spread > 0
    once = kernel_distance(a, b, subsets=5, subset_size=100, seed=7)
    assert once == kernel_distance(a, b, subsets=5, subset_size=100, seed=7)
    assert once != kernel_distance(a, b, subsets=5, subset_size=100, seed=8)


def test_a_bootstrap_replicate_drawing_every_row_once_is_the_estimate():
    rng = np.random.default_rng(9)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5))
    ones = np.ones((1, 30))
    assert mmd2_of_counts(polynomial_kernels(x, y), ones, ones)[0] == pytest.approx(
        polynomial_mmd2(x, y), rel=1e-10)


def patients_of(n: int, per_patient: int = 4) -> list[str]:
    return [f"patient{i // per_patient:04d}" for i in range(n)]


def test_two_sets_of_different_sizes_are_compared_at_equal_n(monkeypatch):
    """300 'synthetic' against 120 test frames of 30 patients: every FD and KID at n = 60 (the
    halves of the test patients), and, the two being one distribution, the synthetic FD equals the
    floor's; at unequal N (300 vs 60) it would be far lower."""
    rng = np.random.default_rng(10)
    synthetic, testing = rng.normal(size=(300, 16)), rng.normal(size=(120, 16))
    patients = patients_of(120)
    n = realism.largest_common_size(300, patients, draws=4, seed=0)
    assert n == 60
    shapes = []
    for name in ("frechet_distance", "polynomial_mmd2"):
        original = getattr(realism, name)
        monkeypatch.setattr(realism, name, lambda a, b, f=original: shapes.append(
            (a.shape, b.shape)) or f(a, b))
    result = realism.realism_at_equal_n(synthetic, testing, patients_of(300, 1), patients, n,
                                        draws=4, resamples=200, seed=0)
    assert len(shapes) == 2 * 2 * 4 and set(shapes) == {((60, 16), (60, 16))}
    synthetic_fd, floor_fd = result["synthetic_vs_test"]["fd"], result["floor"]["fd"]
    assert abs(synthetic_fd - floor_fd) < 0.2 * floor_fd
    assert frechet_distance(synthetic, testing) < 0.6 * floor_fd  # what 300 vs 120 would give
    for comparison in result.values():
        assert comparison["n"] == 60 and comparison["draws"] == 4
        assert comparison["fd_min"] <= comparison["fd"] <= comparison["fd_max"]
        assert comparison["fd_std"] > 0 and comparison["kid_std"] > 0
    assert result == realism.realism_at_equal_n(synthetic, testing, patients_of(300, 1), patients,
                                                n, draws=4, resamples=200, seed=0)


@pytest.mark.parametrize("shift, contains_zero", [(0.0, True), (1.0, False)])
def test_kid_interval_holds_zero_for_one_gaussian_and_not_for_a_shifted_one(shift, contains_zero):
    rng = np.random.default_rng(11)
    synthetic, testing = rng.normal(size=(200, 16)) + shift, rng.normal(size=(160, 16))
    result = realism.realism_at_equal_n(synthetic, testing, patients_of(200), patients_of(160),
                                        80, draws=3, resamples=600, seed=1)
    kid = result["synthetic_vs_test"]
    assert kid["kid_ci_low"] < kid["kid"] < kid["kid_ci_high"]
    assert (kid["kid_ci_low"] <= 0 <= kid["kid_ci_high"]) is contains_zero
    floor = result["floor"]  # two halves of one set: always one distribution
    assert floor["kid_ci_low"] <= 0 <= floor["kid_ci_high"]


def test_pairing_copies_in_the_kid_bootstrap_would_push_the_interval_above_zero():
    """The replicates leave out pairs of copies of one row; with them, one Gaussian's interval
    would miss 0 (the correction the bootstrap makes)."""
    rng = np.random.default_rng(12)
    x, y = rng.normal(size=(60, 16)), rng.normal(size=(60, 16))
    fair = kid_replicates(x, y, 400, np.random.default_rng(0))
    assert np.percentile(fair, 2.5) < 0 < np.percentile(fair, 97.5)
    naive = [polynomial_mmd2(x[rng.integers(0, 60, 60)], y[rng.integers(0, 60, 60)])
             for _ in range(200)]
    assert np.percentile(naive, 2.5) > 0


# --- the floor -----------------------------------------------------------------------------------
def test_the_floor_frames_were_not_seen_by_the_feature_network(small_extract, tmp_path):
    """The floor compares halves of the test patients; none of them is among the patients the
    feature network learnt from (its checkpoint's data_dir), and a network that did is refused."""
    from echo_segmentation.evaluation.inputs import read_real

    network = untrained_segmenter(tmp_path)
    network.config.data_dir = str(small_extract)  # trained on the small extraction
    learnt = learnt_patients(network.config.data_dir)
    testing = read_real(small_extract, "testing", list(VIEWS))
    training = read_real(small_extract, "training", list(VIEWS))
    validation = read_real(small_extract, "validation", list(VIEWS))
    assert learnt == set(training.patients) | set(validation.patients) and len(learnt) == 6
    assert check_unseen(testing.patients, learnt, "best.pt").startswith("verified")
    for draw in range(3):
        a, b = split_halves(testing.patients, realism.draw_generator(0, draw))
        floor = {testing.patients[i] for i in a} | {testing.patients[i] for i in b}
        assert not floor & learnt and not {testing.patients[i] for i in a} & {
            testing.patients[i] for i in b}
        assert sorted([*a, *b]) == list(range(len(testing)))
    with pytest.raises(UserError, match="best.pt: trained on test patient"):
        check_unseen(testing.patients + training.patients[:1], learnt, "best.pt")
    assert check_unseen(testing.patients, learnt_patients(tmp_path / "gone"), "x").startswith(
        "not verified")


# --- memorisation against held-out maps ----------------------------------------------------------
def test_memorisation_control_flags_seen_frames_copied_closer_than_unseen_ones():
    rng = np.random.default_rng(13)
    control = rng.uniform(5, 10, 40)
    alike = memorisation_control.compare(rng.uniform(5, 10, 60), control)
    closer = memorisation_control.compare(rng.uniform(0, 6, 60), control)
    assert alike["memorised"] is False and closer["memorised"] is True
    assert closer["p_value"] < 1e-6 and closer["flagged"] > 10 and alike["flagged"] <= 3
    ssim_alike = memorisation_control.compare(1 - control[:30] / 10, 1 - control / 10, "larger")
    assert memorisation_control.decide(alike, ssim_alike) == "no evidence of memorisation"
    assert memorisation_control.decide(closer, ssim_alike) == "memorised"
    few = memorisation_control.compare(rng.uniform(0, 1, 60), control[:4])
    assert few["memorised"] is None
    assert memorisation_control.decide(few, ssim_alike).startswith("undecided")


# --- SSIM ----------------------------------------------------------------------------------------
def test_pairwise_ssim_is_monai_ssim():
    from monai.metrics import SSIMMetric

    rng = np.random.default_rng(4)
    base = rng.integers(0, 256, (3, 40, 40), dtype=np.uint8)
    noisy = np.clip(base + rng.normal(0, 30, base.shape), 0, 255).astype(np.uint8)
    a, b = image_stack(list(base), 40), image_stack(list(noisy) + list(base[:1]), 40)
    metric = SSIMMetric(spatial_dims=2, data_range=1.0, win_size=11, kernel_sigma=1.5)
    expected = torch.stack([metric(a[i, None, None].expand(len(b), 1, 40, 40), b[:, None])[:, 0]
                            for i in range(len(a))])
    torch.testing.assert_close(pairwise_ssim(a, b, pairs_per_batch=3), expected, atol=1e-5,
                               rtol=0)
    torch.testing.assert_close(paired_ssim(a, b[:3]), expected.diagonal(), atol=1e-5, rtol=0)


# --- the feature network -------------------------------------------------------------------------
def untrained_segmenter(folder, network: str = "unet") -> FeatureNetwork:
    """An untrained default-preset network saved as a segmentation checkpoint, 32 px input."""
    from echo_from_noise.cli import config_to_dict
    from echo_segmentation.config import TrainConfig, resolve_preset
    from echo_segmentation.model import build_network, save_checkpoint

    config = resolve_preset(TrainConfig(data_dir="d", out_dir="o", preset="default",
                                        network=network, image_size=32))
    torch.manual_seed(0)
    path = folder / "best.pt"
    save_checkpoint(path, config=config_to_dict(config), normalisation={"mean": 0.2, "std": 0.2},
                    model=build_network(config).state_dict(), epoch=1, elapsed_s=1.0,
                    best_dice=0.1, best_epoch=1, history=[], optimizer={}, stopped_by=None)
    return FeatureNetwork.load(path, "cpu")


@pytest.fixture(scope="module")
def feature_network(tmp_path_factory) -> FeatureNetwork:
    return untrained_segmenter(tmp_path_factory.mktemp("segmenter"))


@pytest.fixture(scope="module")
def real_images(small_labels) -> dict[str, list[tuple[str, np.ndarray, np.ndarray]]]:
    """split -> [(stem, image, sector map)] of all four views (64 px; 16 / 8 / 8 images)."""
    found = {}
    for split in ("training", "validation", "testing"):
        found[split] = [(p.stem, read_png(p),
                         read_png(small_labels / view / "sector_annotations" / split / p.name))
                        for view in VIEWS
                        for p in list_pngs(small_labels / view / "images" / split)]
    return found


def test_features_are_the_bottleneck_and_do_not_depend_on_the_batch(feature_network, real_images):
    images = [image for _, image, _ in real_images["testing"]]
    features = feature_network.features(images, batch_size=5, progress=False)
    assert features.shape == (8, 256) and features.dtype == np.float64
    alone = feature_network.features(images[3:4], progress=False)
    # equal up to float32 rounding (the convolutions may pick other algorithms per batch size)
    np.testing.assert_allclose(alone[0], features[3], rtol=1e-4, atol=1e-5)
    assert feature_network.layer_description == (
        "the bottleneck of the real-trained segmentation UNet (256 channels at 2 x 2 px for a "
        "32 px input), averaged over space")
    maps = feature_network.segment(images[:2] + [np.zeros((50, 40), np.uint8)], progress=False)
    assert [m.shape for m in maps] == [(64, 64), (64, 64), (50, 40)]
    assert all(m.max() <= 3 for m in maps)


def test_dynunet_features_come_from_its_bottleneck(tmp_path):
    network = untrained_segmenter(tmp_path, "dynunet")
    images = [np.full((48, 48), 40 * k, np.uint8) for k in range(3)]
    assert network.features(images, progress=False).shape == (3, 256)
    assert "segmentation DynUNet (256 channels at 2 x 2 px" in network.layer_description


def test_a_file_that_is_not_a_segmentation_checkpoint_is_refused(tmp_path):
    torch.save({"kind": "semantic_diffusion_model", "model": {}}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="other.pt: not an echo_segmentation checkpoint"):
        FeatureNetwork.load(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(UserError, match="text.pt: not a readable checkpoint"):
        FeatureNetwork.load(tmp_path / "text.pt")


# --- memorisation --------------------------------------------------------------------------------
def test_copies_of_the_training_images_are_memorised_and_other_real_images_are_not(
        feature_network, real_images):
    training = [image for _, image, _ in real_images["training"]]
    testing = [image for _, image, _ in real_images["testing"]]
    validation = [image for _, image, _ in real_images["validation"]]
    embed = lambda images: feature_network.features(images, progress=False)  # noqa: E731
    train_f, test_f = embed(training), embed(testing)

    index, distance = nearest_by_features(train_f, train_f)
    assert (index == np.arange(16)).all() and (distance == 0).all()
    _, test_distance = nearest_by_features(test_f, train_f)
    assert memorised_fraction(distance, test_distance)["fraction"] == 1.0
    _, other_distance = nearest_by_features(embed(validation), train_f)
    assert memorised_fraction(other_distance, test_distance)["fraction"] <= 0.5

    index, similarity = nearest_by_ssim(training, training)
    assert (index == np.arange(16)).all() and np.allclose(similarity, 1.0, atol=1e-6)
    _, test_similarity = nearest_by_ssim(testing, training)
    assert test_similarity.max() < 0.99
    assert memorised_fraction(similarity, test_similarity, closer="larger")["fraction"] == 1.0
    _, other_similarity = nearest_by_ssim(validation, training)
    assert memorised_fraction(other_similarity, test_similarity, "larger")["fraction"] <= 0.5

    index, _ = nearest_by_features(train_f, train_f, exclude_self=True)
    assert (index != np.arange(16)).all()


def test_memorised_fraction_counts_strictly_beyond_the_nearest_test_image():
    result = memorised_fraction([0.1, 0.4, 2.0], [0.4, 1.0, 3.0])
    assert result == {"fraction": pytest.approx(1 / 3), "count": 1, "threshold": 0.4,
                      "median_synthetic": 0.4, "median_test": 1.0, "num_synthetic": 3,
                      "num_test": 3, "closer": "smaller"}
    result = memorised_fraction([0.9, 0.5, 0.85, 0.8], [0.6, 0.8], closer="larger")
    assert (result["fraction"], result["threshold"]) == (0.5, 0.8)


# --- adherence -----------------------------------------------------------------------------------
def test_adherence_is_one_for_the_right_map_and_lower_for_swapped_maps(real_images):
    maps = [sector_map for split in real_images.values() for _, _, sector_map in split]
    predictions = [sector_to_camus(m) for m in maps]
    assert (adherence_dice(predictions, maps) == 1.0).all()
    swapped = adherence_dice(predictions, maps[7:] + maps[:7])  # other patients and views
    assert swapped.shape == (32, 3) and swapped.mean() < 0.8 and swapped.max(axis=1).min() < 1
    with pytest.raises(ValueError, match="differ in size"):
        adherence_dice([predictions[0][:32]], [maps[0]])


# --- diversity -----------------------------------------------------------------------------------
def test_seed_groups_reads_the_seed_suffix_only():
    names = ["a", "a_s1", "a_s2", "b_3", "b_3_s1", "c_s", "c", "lonely_s1", "p_1", "p_2"]
    assert seed_groups(names) == {"a": [0, 1, 2], "b_3": [3, 4]}
    views = ["2CH_ED", "2CH_ED", "4CH_ED", "2CH_ED", "2CH_ED"]
    assert seed_groups(["a", "a_s1", "a_s2", "b", "b_s1"], views) == {"2CH_ED/a": [0, 1],
                                                                       "2CH_ED/b": [3, 4]}


def test_within_map_spread_is_zero_for_identical_seeds_and_positive_otherwise(real_images):
    images = [image for _, image, _ in real_images["testing"]]
    names = ["m", "m_s1", "n", "n_s1", "n_s2"]
    groups = seed_groups(names)
    rng = np.random.default_rng(5)
    features = rng.normal(size=(8, 4))
    scale = Standardisation.of(features)
    same = np.array([features[0], features[0], features[1], features[1], features[1]])
    assert within_map_distance(same, groups, scale) == 0.0
    assert within_map_distance(features[:5], groups, scale) > 0
    assert within_map_ssim([images[0]] * 2 + [images[1]] * 3, groups) == pytest.approx(0, abs=1e-6)
    assert within_map_ssim(images[:5], groups) > 0.05
    between = between_image_distance(features, scale, seed=1, pairs=500)
    assert between > 0 and between == between_image_distance(features, scale, seed=1, pairs=500)
    with pytest.raises(ValueError, match="no pair"):
        between_image_distance(features, scale, patients=["p"] * 8)
    assert 0 < between_image_ssim(images, pairs=50, patients=list("aabbccdd")) <= 2


def test_random_pairs_keep_to_one_view_and_different_patients():
    views, patients = list("xxxxyyyy"), list("aabbccdd")
    pairs = random_pairs(8, 300, seed=0, views=views, patients=patients)
    first, second = pairs.T
    assert len(pairs) == 300 and (first != second).all()
    assert all(views[i] == views[j] and patients[i] != patients[j] for i, j in pairs)
    assert len({tuple(p) for p in pairs}) == 16  # every qualifying ordered pair turns up


# --- figures -------------------------------------------------------------------------------------
def test_figures_are_written(real_images, tmp_path):
    from echo_segmentation.evaluation.figures import (closest_pairs_figure,
                                                             nearest_distance_histogram,
                                                             worst_adherence_figure)

    (name, image, sector_map), (other, other_image, _) = real_images["testing"][:2]
    worst_adherence_figure([(name, image, sector_map, sector_to_camus(sector_map), 0.81)] * 2,
                           tmp_path / "worst.png")
    closest_pairs_figure([(name, image, other, other_image, 0.42, "SSIM")], tmp_path / "pairs.png")
    nearest_distance_histogram(np.arange(10.0), np.arange(5.0) + 3, 3.0, tmp_path / "hist.png",
                               "feature distance")
    for figure in ("worst", "pairs", "hist"):
        assert read_png(tmp_path / f"{figure}.png", color=True).shape[0] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hist.png", "pairs.png", "worst.png"]
