"""The Keras ``VAE``: custom train/test steps, metrics, sampling state, saving."""

import keras
import numpy as np
import pytest
from keras import ops
from scipy.ndimage import uniform_filter1d

from anomaly_vae import VAE, load_vae, save_vae
from anomaly_vae.choices import SCORES
from anomaly_vae.detectors.scoring import ScoreModel, box_mean, predict_scores, worst_count
from anomaly_vae.network.vae import Z_LOG_VAR_MAX, Z_LOG_VAR_MIN
from anomaly_vae.persistence.model_files import compile_vae

pytestmark = pytest.mark.backend  # the model's maths: `make test` runs it on every backend


def make_vae(likelihood="gaussian", **kw):
    vae = VAE(n_features=4, latent_dim=2, hidden_units=(8,), likelihood=likelihood, n_score_samples=3, seed=7, **kw)
    vae.build((None, 4))
    return compile_vae(vae, 1e-2)


def test_fit_reports_the_three_losses_and_their_validation_twins(normal_data):
    x = normal_data.astype("float32")
    history = make_vae().fit(x[:150], validation_data=(x[150:],), epochs=3, batch_size=32, verbose=0)
    expected = {"loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss"}
    assert set(history.history) == expected
    h = history.history
    assert h["loss"][-1] < h["loss"][0]
    # loss = reconstruction + beta * KL holds for each epoch's means (beta = 1)
    np.testing.assert_allclose(h["loss"], np.add(h["reconstruction_loss"], h["kl_loss"]), rtol=1e-4)


def test_beta_weights_the_kl_term(normal_data):
    x = normal_data.astype("float32")
    h = make_vae(beta=0.25).fit(x, epochs=2, batch_size=64, verbose=0).history
    np.testing.assert_allclose(h["loss"], np.add(h["reconstruction_loss"], 0.25 * np.array(h["kl_loss"])), rtol=1e-4)


def test_training_advances_the_seed_generator_state(normal_data):
    """Under JAX the step must return non-trainable variables, or every step reuses one noise draw."""
    vae = make_vae()
    before = np.array(ops.convert_to_numpy(vae.seed_generator.state))
    vae.fit(normal_data.astype("float32"), epochs=1, batch_size=50, verbose=0)  # 4 steps
    after = np.array(ops.convert_to_numpy(vae.seed_generator.state))
    assert not np.array_equal(before, after)
    # successive calls draw different noise
    x = ops.convert_to_tensor(normal_data[:5].astype("float32"))
    a, b = (ops.convert_to_numpy(vae(x, training=True)["x_mean"]) for _ in range(2))
    assert not np.allclose(a, b)


@pytest.mark.skipif(keras.backend.backend() == "torch", reason="torch runs one step per call (compile_vae forces 1)")
def test_several_steps_per_call_train_as_one_step_per_call(normal_data):
    """JAX runs each group of steps as one lax.scan; the weights must match Keras' step-by-step loop."""
    x = normal_data.astype("float32")
    weights = []
    for steps_per_execution in (1, 4):
        vae = VAE(n_features=4, latent_dim=2, hidden_units=(8,), n_score_samples=3, seed=7)
        vae.build((None, 4))
        compile_vae(vae, 1e-2, steps_per_execution=steps_per_execution)
        assert vae.steps_per_execution == steps_per_execution
        vae.fit(x, epochs=2, batch_size=50, shuffle=False, verbose=0)  # 4 full batches an epoch
        weights.append([np.asarray(ops.convert_to_numpy(w)) for w in vae.weights])
    for one, grouped in zip(*weights):
        np.testing.assert_allclose(one, grouped, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fused Adam update is the torch step's")
def test_torch_fused_adam_trains_as_keras_adam(monkeypatch, normal_data):
    """The torch step applies Keras' Adam and global-norm clip in fused kernels; the weights must
    match Keras' own ``optimizer.apply``. A large epsilon and a small clip norm make both matter."""
    from anomaly_vae.network.steps import torch_step

    x = normal_data.astype("float32")
    weights = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(torch_step, "_fusable", lambda optimizer, weights: False)
        vae = VAE(n_features=4, latent_dim=2, hidden_units=(8,), n_score_samples=3, seed=7)
        vae.build((None, 4))
        vae.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-2, epsilon=0.5, global_clipnorm=0.5))
        h = vae.fit(x, epochs=3, batch_size=50, shuffle=False, verbose=0).history
        assert (torch_step._ADAM_TENSORS.get(vae.optimizer, (None, None))[1] is not None) == fused
        assert int(ops.convert_to_numpy(vae.optimizer.iterations)) == 12
        weights.append([np.asarray(ops.convert_to_numpy(w)) for w in vae.trainable_weights] + [h["loss"]])
    for one, keras_path in zip(*weights):
        np.testing.assert_allclose(one, keras_path, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fused Adam update is the torch step's")
def test_torch_fused_adam_trains_a_convolutional_vae_as_keras_adam(monkeypatch):
    """Convolution kernels get non-contiguous gradients on torch; the fused update must still be Adam's."""
    from anomaly_vae.network.conv_parts import ConvDecoder, ConvEncoder
    from anomaly_vae.network.steps import torch_step

    x = np.random.default_rng(0).uniform(size=(128, 8, 8, 1)).astype("float32")
    weights = []
    for fused in (True, False):
        if not fused:
            monkeypatch.setattr(torch_step, "_fusable", lambda optimizer, weights: False)
        encoder = ConvEncoder((8, 8, 1), 4, filters=(8,), dense_units=16, seed=1)
        decoder = ConvDecoder((8, 8, 1), 4, filters=(8,), dense_units=16, seed=1, seed_start=encoder.seeds_used)
        vae = VAE(encoder=encoder, decoder=decoder, latent_dim=4, likelihood="bernoulli", seed=1)
        vae.build((None, 8, 8, 1))
        compile_vae(vae, 1e-2).fit(x, epochs=1, batch_size=32, shuffle=False, verbose=0)
        weights.append([np.asarray(ops.convert_to_numpy(w)) for w in vae.trainable_weights])
    for one, keras_path in zip(*weights):
        np.testing.assert_allclose(one, keras_path, atol=2e-4)


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="the fused Adam update is the torch step's")
@pytest.mark.parametrize("case", ["sgd", "keras_internals_renamed"])
def test_torch_step_falls_back_to_keras_apply(case, monkeypatch, normal_data):
    """Another optimizer, or one that passes the checks but lacks Adam's private slots (as after a
    Keras rename), trains through ``optimizer.apply``."""
    from anomaly_vae.network.steps import torch_step

    optimizer = keras.optimizers.SGD(learning_rate=1e-2)
    if case == "keras_internals_renamed":
        monkeypatch.setattr(torch_step, "_fusable", lambda optimizer, weights: optimizer.built)
    vae = VAE(n_features=4, latent_dim=2, hidden_units=(8,), n_score_samples=3, seed=7)
    vae.build((None, 4))
    vae.compile(optimizer=optimizer)
    before = [np.asarray(ops.convert_to_numpy(w)) for w in vae.trainable_weights]
    h = vae.fit(normal_data.astype("float32"), epochs=2, batch_size=50, verbose=0).history
    assert np.isfinite(h["loss"]).all()
    assert torch_step._ADAM_TENSORS[vae.optimizer][1] is None
    assert int(ops.convert_to_numpy(vae.optimizer.iterations)) == 8
    after = [np.asarray(ops.convert_to_numpy(w)) for w in vae.trainable_weights]
    assert not any(np.allclose(a, b) for a, b in zip(before, after))


@pytest.mark.parametrize("likelihood", ["gaussian", "heteroscedastic", "mse", "bernoulli"])
def test_each_likelihood_trains_to_a_finite_loss(likelihood, normal_data):
    x = normal_data.astype("float32")
    if likelihood == "bernoulli":
        x = (x - x.min(0)) / (x.max(0) - x.min(0))
    h = make_vae(likelihood).fit(x, epochs=2, batch_size=64, verbose=0).history
    assert np.isfinite(h["loss"]).all()


def test_z_log_var_is_clipped():
    vae = make_vae()
    _, z_log_var = vae.encode(ops.convert_to_tensor(np.full((2, 4), 1e6, "float32")))
    z_log_var = ops.convert_to_numpy(z_log_var)
    assert z_log_var.min() >= Z_LOG_VAR_MIN and z_log_var.max() <= Z_LOG_VAR_MAX


def test_config_round_trip():
    vae = make_vae(beta=0.5)
    clone = VAE.from_config(vae.get_config())
    assert clone.get_config() == vae.get_config()


def test_invalid_arguments_name_the_argument():
    with pytest.raises(ValueError, match="latent_dim"):
        VAE(n_features=3, latent_dim=0)
    with pytest.raises(ValueError, match="likelihood"):
        VAE(n_features=3, likelihood="poisson")
    with pytest.raises(ValueError, match="beta"):
        VAE(n_features=3, beta=-1)


def test_save_load_same_scores_and_trains_further(tmp_path, normal_data):
    x = normal_data.astype("float32")
    vae = make_vae()
    vae.fit(x, epochs=2, batch_size=64, verbose=0)
    path = save_vae(vae, tmp_path / "m.keras")
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no temporary file left behind
    loaded = load_vae(path)
    np.testing.assert_allclose(
        predict_scores(ScoreModel(loaded), x), predict_scores(ScoreModel(vae), x), rtol=1e-6, atol=1e-6
    )
    h = compile_vae(loaded).fit(x, epochs=1, batch_size=64, verbose=0).history
    assert np.isfinite(h["loss"]).all()


def test_scores_are_deterministic_and_row_independent(normal_data):
    vae = make_vae()
    x = normal_data.astype("float32")
    full = predict_scores(ScoreModel(vae), x)
    np.testing.assert_array_equal(full, predict_scores(ScoreModel(vae), x))
    np.testing.assert_array_equal(full[:7], predict_scores(ScoreModel(vae), x[:7]))
    np.testing.assert_array_equal(full[::-1], predict_scores(ScoreModel(vae), x[::-1]))


@pytest.mark.parametrize("rule", SCORES)
def test_score_rules_are_finite_and_consistent(rule, normal_data):
    vae = make_vae()
    x = normal_data.astype("float32")
    scores = predict_scores(ScoreModel(vae, score=rule), x)
    assert scores.shape == (len(x),) and np.isfinite(scores).all()
    if rule == "elbo":
        recon = predict_scores(ScoreModel(vae, score="reconstruction"), x)
        kl = predict_scores(ScoreModel(vae, score="kl"), x)
        np.testing.assert_allclose(scores, recon + kl, rtol=1e-5, atol=1e-5)
    if rule == "recon_prob":
        # Jensen over the same draws: -log mean_s p(x|z_s) <= mean_s -log p(x|z_s)
        assert (scores <= predict_scores(ScoreModel(vae, score="reconstruction"), x) + 1e-4).all()
    if rule == "worst":  # the sum of each row's worst_count(n_features) highest per-feature NLLs
        _, per_feature = predict_scores(ScoreModel(vae, features=True), x)
        k = worst_count(x.shape[1])
        assert 1 <= k < x.shape[1]
        np.testing.assert_allclose(scores, np.sort(per_feature, axis=1)[:, -k:].sum(axis=1), rtol=1e-5, atol=1e-4)
    if rule == "worst_region":  # a row has no spatial axis to average over: the same as "worst"
        np.testing.assert_array_equal(scores, predict_scores(ScoreModel(vae, score="worst"), x))


@pytest.mark.parametrize("side", [1, 4, 5])
@pytest.mark.parametrize("axis", [1, 2])
def test_box_mean_averages_each_elements_neighbourhood_with_zeros_beyond_the_edges(axis, side):
    x = np.random.default_rng(0).normal(size=(3, 9, 7, 2)).astype("float32")
    expected = uniform_filter1d(x, side, axis=axis, mode="constant")
    np.testing.assert_allclose(
        ops.convert_to_numpy(box_mean(ops.convert_to_tensor(x), axis, side)), expected, atol=1e-6
    )


@pytest.mark.parametrize("likelihood", ["gaussian", "heteroscedastic"])
@pytest.mark.parametrize("rule", ["elbo", "recon_prob", "iwae", "worst"])
def test_an_ensemble_scores_the_mean_of_its_members_scored_alone(rule, likelihood, normal_data):
    ensemble = make_vae(likelihood, n_members=3)
    ensemble.fit(normal_data[:128], epochs=1, batch_size=64, verbose=0)
    x = normal_data.astype("float32")
    scores, features = predict_scores(ScoreModel(ensemble, score=rule, features=True), x)
    alone = []
    for m in range(3):  # member m's slice of every weight, in a one-member VAE
        member = make_vae(likelihood)
        for target, source in zip(member.weights, ensemble.weights):
            value = ops.convert_to_numpy(source)
            target.assign(
                value if target.name in ("score_noise", "seed_generator_state", "kl_scale") else value[m : m + 1]
            )
        alone.append(predict_scores(ScoreModel(member, score=rule, features=True), x))
    np.testing.assert_allclose(scores, np.mean([s for s, _ in alone], axis=0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(features, np.mean([f for _, f in alone], axis=0), rtol=1e-4, atol=1e-4)
    kernels = ops.convert_to_numpy(ensemble.encoder.hidden[0].kernel)
    assert not np.allclose(kernels[0], kernels[1])  # members start from different weights


@pytest.mark.reliability
def test_loading_a_file_with_a_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    model.save(tmp_path / "evil.keras")
    with pytest.raises(ValueError, match="arbitrary Python code"):
        load_vae(tmp_path / "evil.keras")


@pytest.mark.reliability
def test_loading_a_foreign_model_or_garbage_is_refused(tmp_path):
    inputs = keras.Input((3,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save(tmp_path / "other.keras")
    with pytest.raises(ValueError, match="not an anomaly_vae VAE"):
        load_vae(tmp_path / "other.keras")
    (tmp_path / "junk.keras").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable .keras model file"):
        load_vae(tmp_path / "junk.keras")
    with pytest.raises(FileNotFoundError):
        load_vae(tmp_path / "missing.keras")


def test_mixed_bfloat16_computes_layers_in_bfloat16_and_the_loss_in_float32(tmp_path, normal_data):
    x = normal_data.astype("float32")
    vae = make_vae(dtype="mixed_bfloat16")
    assert vae.encoder.hidden[0].compute_dtype == "bfloat16" and vae.encoder.hidden[0].kernel.dtype == "float32"
    outputs = vae(ops.convert_to_tensor(x[:4]))
    assert ops.dtype(outputs["x_mean"]) == "bfloat16"
    loss, _, _ = vae._elbo_loss(ops.convert_to_tensor(x[:4]), outputs)
    assert ops.dtype(loss) == "float32"
    h = vae.fit(x, epochs=2, batch_size=64, verbose=0).history
    assert np.isfinite(h["loss"]).all()
    scores = predict_scores(ScoreModel(vae), x)
    assert np.isfinite(scores).all()
    loaded = load_vae(save_vae(vae, tmp_path / "bf16.keras"))
    assert loaded.encoder.hidden[0].compute_dtype == "bfloat16"
    np.testing.assert_allclose(predict_scores(ScoreModel(loaded), x), scores, rtol=1e-5)


def test_kl_warmup_ramps_the_training_kl_weight_and_leaves_validation_at_beta(normal_data):
    from anomaly_vae.network.callbacks import KLWarmUp

    x = normal_data.astype("float32")
    vae = make_vae(beta=0.5)
    h = vae.fit(
        x[:150], validation_data=(x[150:],), epochs=4, batch_size=50, verbose=0, callbacks=[KLWarmUp(2)]
    ).history
    weights = np.array([0.0, 0.25, 0.5, 0.5])  # beta * min(1, epoch / 2)
    np.testing.assert_allclose(h["loss"], np.add(h["reconstruction_loss"], weights * np.array(h["kl_loss"])), rtol=1e-4)
    np.testing.assert_allclose(
        h["val_loss"], np.add(h["val_reconstruction_loss"], 0.5 * np.array(h["val_kl_loss"])), rtol=1e-4
    )
    assert float(ops.convert_to_numpy(vae.kl_scale)) == 1.0


def test_categorical_groups_round_trip_and_are_checked():
    vae = VAE(n_features=5, categorical_groups=[[1, 2], [3, 4]])
    assert VAE.from_config(vae.get_config()).categorical_groups == ((1, 2), (3, 4))
    for bad, message in [([[1, 5]], "out of range"), ([[1, 2], [2, 3]], "more than once"), ([[]], "non-empty")]:
        with pytest.raises(ValueError, match=message):
            VAE(n_features=5, categorical_groups=bad)


def test_scores_do_not_depend_on_the_scoring_batch(normal_data):
    """``predict_scores`` pads the last batch and stitches batches back: a row scores the same in
    any batch, and every row comes back once, in order (several batches here, a ragged last one)."""
    vae = make_vae()
    scorer = ScoreModel(vae, features=True)
    x = normal_data[:30].astype("float32")
    one_scores, one_features = predict_scores(scorer, x, batch_size=64)
    many_scores, many_features = predict_scores(ScoreModel(vae, features=True), x, batch_size=7)
    assert many_scores.shape == (30,) and many_features.shape == (30, 4)
    np.testing.assert_allclose(many_scores, one_scores, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(many_features, one_features, rtol=1e-5, atol=1e-5)


def test_a_small_input_is_scored_at_the_small_shape_and_a_larger_one_at_the_large(normal_data):
    from anomaly_vae.detectors.scoring import SMALL_SCORE_BATCH_SIZE, score_batch_size

    scorer = ScoreModel(make_vae())
    shapes: list[int] = []
    run = scorer.predict_on_batch
    scorer.predict_on_batch = lambda batch: (shapes.append(len(batch)), run(batch))[1]
    x = normal_data.astype("float32")
    predict_scores(scorer, x[:1])
    predict_scores(scorer, np.resize(x, (SMALL_SCORE_BATCH_SIZE, 4)))
    predict_scores(scorer, np.resize(x, (SMALL_SCORE_BATCH_SIZE + 1, 4)))
    assert shapes == [SMALL_SCORE_BATCH_SIZE, SMALL_SCORE_BATCH_SIZE, score_batch_size()]
