"""The recurrent examples run briefly and learn: the forecaster beats the naive last-value forecast, the
masked Bi-LSTM sentiment classifier beats the majority class by far."""
import numpy as np

from tinydl.examples import rnn_timeseries, text_classifier


def test_rnn_timeseries_loss_falls_and_beats_last_value_forecast():
    result = rnn_timeseries.main(epochs=3, verbose=0, length=1200)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]
    assert result["test_mse"] < result["naive_mse"]


def test_text_classifier_learns_sentiment_with_negation_on_padded_sentences():
    result = text_classifier.main(epochs=4, verbose=0, n_train=1000)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]
    assert result["test_accuracy"] > 0.8 > result["majority_accuracy"] + 0.2


def test_generated_corpus_is_padded_at_the_end_with_variable_lengths():
    ids, labels, lengths = text_classifier.make_corpus(50, seed=3)
    assert ids.shape == (50, text_classifier.MAX_LEN) and set(np.unique(labels)) <= {0.0, 1.0}
    assert lengths.min() >= 3 and lengths.max() <= text_classifier.MAX_LEN and len(set(lengths)) > 5
    for row, n in zip(ids, lengths):
        assert (row[:n] > 0).all() and (row[n:] == 0).all()
