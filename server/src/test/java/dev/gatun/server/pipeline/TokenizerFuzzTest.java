package dev.gatun.server.pipeline;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.util.List;

/**
 * Fuzzes the WordPiece tokenizer (all-MiniLM-L6-v2's vocabulary) with arbitrary text, which is what a client of a
 * text pipeline sends: any Unicode, unpaired surrogates, control characters, added-token look-alikes, very long
 * words. Nothing may be thrown, and the encoding must keep its contract: at most {@code maxLength} ids, every id in
 * the vocabulary, one type id and one token string per id, rows of a batch padded to one length.
 */
class TokenizerFuzzTest {
    private static final WordPieceTokenizer TOKENIZER = DefaultModel.available() ? DefaultModel.tokenizer() : null;

    @FuzzTest(maxDuration = "10m")
    void encode(FuzzedDataProvider data) {
        if (TOKENIZER == null) {
            return;
        }
        int maxLength = data.consumeInt(TOKENIZER.specialTokenCount() + 1, 600);
        String a = data.consumeString(2000);
        String b = data.consumeRemainingAsString();
        WordPieceTokenizer.Encoding e = TOKENIZER.encode(a, maxLength);
        check(e, maxLength);
        WordPieceTokenizer.Batch batch = TOKENIZER.encodeBatch(List.of(a, b), maxLength);
        if (batch.batch() != 2 || batch.length() > maxLength || batch.ids().length != 2 * batch.length()
                || batch.attentionMask().length != batch.ids().length || batch.typeIds().length != batch.ids().length) {
            throw new AssertionError("batch of 2 with length " + batch.length() + " (max " + maxLength + ") has "
                    + batch.ids().length + " ids");
        }
        for (int i = 0; i < batch.length(); i++) {
            if (batch.ids()[i] != e.ids()[Math.min(i, e.ids().length - 1)] && i < e.ids().length) {
                throw new AssertionError("row 0 of the batch differs from encode() at " + i);
            }
        }
    }

    private static void check(WordPieceTokenizer.Encoding e, int maxLength) {
        int n = e.ids().length;
        if (n > maxLength || n < TOKENIZER.specialTokenCount() || e.typeIds().length != n || e.tokens().length != n) {
            throw new AssertionError(n + " ids, " + e.typeIds().length + " type ids, " + e.tokens().length
                    + " tokens for maxLength " + maxLength);
        }
        for (int id : e.ids()) {
            if (id < 0 || id >= TOKENIZER.vocabSize()) {
                throw new AssertionError("id " + id + " outside the vocabulary of " + TOKENIZER.vocabSize());
            }
        }
    }
}
