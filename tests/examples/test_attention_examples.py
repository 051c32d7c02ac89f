"""The transformer examples run briefly (small data, few epochs) and learn: losses fall, the pieces fit."""
import numpy as np

from tinydl.examples import bert, gpt, t5


def test_gpt_loss_falls_below_the_unigram_baseline_and_samples_text():
    result = gpt.main(epochs=2, verbose=0, windows_per_epoch=192, sample_length=20)
    history = result["history"]
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_loss"][-1] < result["unigram_loss"]
    assert result["sample"].startswith("Shall I ") and len(result["sample"]) == len("Shall I ") + 20


def test_t5_learns_to_reverse_and_greedy_decoding_ends_with_eos():
    result = t5.main(epochs=2, verbose=0, train_size=800, test_size=20)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0]
    source, _, target = t5.make_data(3, np.random.default_rng(1))
    decoded = t5.greedy_decode(result["model"], source)
    assert decoded.shape == target.shape
    assert all(t5.EOS in row or row[-1] != t5.PAD for row in decoded)


def test_bert_pretraining_loss_falls_and_bag_of_words_cannot_see_order():
    result = bert.main(epochs=2, verbose=0, pretrain_size=480, labelled_size=64, test_size=200)
    pretrain = result["pretrain_history"]["loss"]
    assert pretrain[-1] < pretrain[0]
    assert result["bag_of_words_accuracy"] < 0.65  # both orders share one bag of words


def test_bert_sentences_differ_only_in_order_between_labels():
    ids, labels = bert.make_sentences(200, np.random.default_rng(0))
    assert ids.shape == (200, bert.LENGTH) and np.all(ids[:, 0] == bert.CLS)
    predator_ids = {bert.VOCAB[w] for w in bert.PREDATORS}
    for row, label in zip(ids, labels):
        nouns = [t for t in row if t in predator_ids or t in {bert.VOCAB[w] for w in bert.PREY}]
        assert (nouns[0] in predator_ids) == bool(label)
