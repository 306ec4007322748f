import numpy as np
from transformers import AutoTokenizer

from kdaug.core.assets.minilm import minilm_path
from kdaug.core.vocab import Vocabulary


def test_wordpiece_vocabulary():
    tok = AutoTokenizer.from_pretrained(str(minilm_path()))
    vocab = Vocabulary.of(tok, len(tok) + 3)  # an embedding table may have rows past the tokenizer
    ids = tok.convert_tokens_to_ids(["hello", "##ing", "[CLS]", "[unused0]", ",", "a"])
    hello, piece, cls, unused, comma, a = ids
    assert vocab.size == len(tok) + 3 and vocab.special[-3:].all()
    assert vocab.special[cls] and vocab.special[unused] and not vocab.special[hello] and not vocab.special[comma]
    assert vocab.word_start[hello] and not vocab.word_start[piece] and vocab.spelled[piece] == "ing"
    whole_ids, words = vocab.whole_words()
    assert list(whole_ids) == sorted(whole_ids)
    kept = dict(zip(whole_ids.tolist(), words))
    assert kept[hello] == "hello" and kept[a] == "a"
    assert piece not in kept and comma not in kept and cls not in kept and unused not in kept


def test_byte_level_bpe_vocabulary(mr_rows):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    raw.train_from_iterator(
        [r["text"] for r in mr_rows],
        trainers.BpeTrainer(vocab_size=2000, special_tokens=["<s>", "</s>", "<pad>", "<mask>"]),
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, bos_token="<s>", eos_token="</s>", pad_token="<pad>", mask_token="<mask>"
    )
    vocab = Vocabulary.of(tok)
    the = tok.convert_tokens_to_ids("Ġthe")
    bare = tok.convert_tokens_to_ids("the")  # "the" at a text's start, or inside a word
    assert vocab.word_start[the] and vocab.spelled[the] == "the" and not vocab.word_start[bare]
    assert vocab.special[tok.convert_tokens_to_ids("<mask>")]
    ids, words = vocab.whole_words()
    assert "the" in words and the in ids and bare not in ids
    assert all(w.isalpha() and not w.startswith("Ġ") for w in words)
    assert np.all(vocab.word_start[ids]) and not np.any(vocab.special[ids])
