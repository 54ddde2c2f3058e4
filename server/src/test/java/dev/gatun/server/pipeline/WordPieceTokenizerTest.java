package dev.gatun.server.pipeline;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The BERT tokenizer of all-MiniLM-L6-v2 (the langchain4j jar's tokenizer.json). Expected ids were derived by hand
 * from that file's vocabulary following the tokenizers library's algorithm (normalize, split, greedy WordPiece),
 * e.g. "unaffable" -> una ##ffa ##ble, BERT's documented example.
 */
class WordPieceTokenizerTest {
    private static final int CLS = 101;
    private static final int SEP = 102;
    private static final int UNK = 100;
    private static WordPieceTokenizer tok;

    @BeforeAll
    static void load() {
        tok = DefaultModel.tokenizer();
    }

    private static int[] ids(String text) {
        return tok.encode(text, 512).ids();
    }

    private static int[] wrap(int... ids) {
        int[] out = new int[ids.length + 2];
        out[0] = CLS;
        System.arraycopy(ids, 0, out, 1, ids.length);
        out[out.length - 1] = SEP;
        return out;
    }

    @Test
    void plainAsciiAndPunctuation() {
        assertArrayEquals(wrap(7592, 1010, 2088, 999), ids("Hello, world!"));
        assertArrayEquals(wrap(2123, 1005, 1056, 2644, 1011, 8929, 1012, 1012, 1012), ids("don't stop-believing..."));
        // ASCII symbols count as punctuation: $ and + split.
        assertArrayEquals(wrap(1002, 2531, 1009, 4171), ids("$100+tax"));
        assertArrayEquals(wrap(7592, 1010, 1061, 1005, 2035, 999, 2129, 2024, 2017, UNK, 1029),
                ids("Hello, y'all! How are you \uD83D\uDE01 ?"));
    }

    @Test
    void emptyAndWhitespaceOnly() {
        assertArrayEquals(new int[] {CLS, SEP}, ids(""));
        assertArrayEquals(new int[] {CLS, SEP}, ids(" \t\n\u3000 "));
    }

    @Test
    void subwords() {
        assertArrayEquals(wrap(14477, 20961, 3468), ids("unaffable"));
        assertArrayEquals(wrap(19204, 3989, 7861, 8270, 4667, 2015), ids("tokenization embeddings"));
        assertArrayEquals(new String[] {"[CLS]", "una", "##ffa", "##ble", "[SEP]"}, tok.encode("unaffable", 512).tokens());
    }

    @Test
    void accentsAreStrippedAndCaseFolded() {
        assertArrayEquals(wrap(7592, 2088), ids("Héllo Wörld"));
        assertArrayEquals(wrap(15743, 7668), ids("naïve CAFÉ"));
        // Decomposed input (e + combining acute) gives the same.
        assertArrayEquals(wrap(7668), ids("cafe\u0301"));
        // İ decomposes to I + dot above (a non-spacing mark, dropped) before lower-casing.
        assertArrayEquals(wrap(9960), ids("İSTANBUL"));
        // ß has no decomposition and lower-cases to itself.
        assertArrayEquals(wrap(2358, 27807), ids("Straße"));
    }

    @Test
    void cjkCharactersAreSplitOneByOne() {
        // 爱 (simplified) is not in the vocabulary, 愛 is.
        assertArrayEquals(wrap(1855, UNK, 1781, 1755), ids("我爱北京"));
        assertArrayEquals(wrap(1855, 1853), ids("我愛"));
    }

    @Test
    void emojiIsUnknown() {
        assertArrayEquals(wrap(1045, 2293, UNK), ids("I love \uD83C\uDF55"));
    }

    @Test
    void controlAndFormatCharactersAreDroppedWhitespaceUnified() {
        assertArrayEquals(wrap(7592, 2088), ids("hello\tworld\u0000\n"));
        assertArrayEquals(wrap(7592), ids("hel\u200blo"));
        assertArrayEquals(wrap(7592), ids("hel\ufffdlo"));
        assertArrayEquals(wrap(1037, 1038), ids("a\u00a0b"));
    }

    @Test
    void veryLongWords() {
        int[] expected = new int[50];
        expected[0] = 13360;
        Arrays.fill(expected, 1, 49, 11057);
        expected[49] = 2050;
        assertArrayEquals(wrap(expected), ids("a".repeat(100)));
        assertArrayEquals(wrap(UNK), ids("a".repeat(101)));
        assertArrayEquals(wrap(7592, UNK, 2088), ids("hello " + "x".repeat(5000) + " world"));
    }

    @Test
    void addedTokensInTheRawTextKeepTheirIds() {
        assertArrayEquals(wrap(7592, SEP, 2088), ids("hello [SEP] world"));
        assertArrayEquals(wrap(7592, SEP, 2088), ids("hello[SEP]world"));
        // Matching is on the raw text: a lower-case look-alike is ordinary text.
        assertArrayEquals(wrap(1031, 19802, 1033), ids("[sep]"));
    }

    @Test
    void truncationKeepsTheSpecialTokens() {
        assertArrayEquals(new int[] {CLS, 2028, 2048, 2093, SEP}, tok.encode("one two three four five", 5).ids());
        assertArrayEquals(new int[] {CLS, 2028, 2048, 2093, 2176, 2274, SEP}, tok.encode("one two three four five", 7).ids());
        assertArrayEquals(new int[] {CLS, 2028, 2048, 2093, 2176, 2274, SEP}, tok.encode("one two three four five", 100).ids());
        // Truncation may cut a word's pieces.
        assertArrayEquals(new int[] {CLS, 14477, SEP}, tok.encode("unaffable", 3).ids());
        assertThrows(IllegalArgumentException.class, () -> tok.encode("x", 2));
        int[] many = tok.encode("word ".repeat(100_000), 256).ids();
        assertEquals(256, many.length);
        assertEquals(SEP, many[255]);
    }

    @Test
    void typeIdsAreZero() {
        WordPieceTokenizer.Encoding e = tok.encode("hello world", 512);
        assertArrayEquals(new int[4], e.typeIds());
    }

    @Test
    void batchPadsToTheLongest() {
        WordPieceTokenizer.Batch b = tok.encodeBatch(List.of("hello", "hello world", ""), 512);
        assertEquals(3, b.batch());
        assertEquals(4, b.length());
        assertArrayEquals(new long[] {CLS, 7592, SEP, 0, CLS, 7592, 2088, SEP, CLS, SEP, 0, 0}, b.ids());
        assertArrayEquals(new long[] {1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 0, 0}, b.attentionMask());
        assertArrayEquals(new long[12], b.typeIds());
        assertEquals(0, tok.padId());
    }

    @Test
    void tokenizerFileVariants() {
        String vocab = "\"vocab\": {\"[PAD]\": 0, \"[UNK]\": 1, \"[CLS]\": 2, \"[SEP]\": 3, \"ab\": 4, \"##c\": 5, \"x\": 6}";
        String bertProcessing = "{\"model\": {\"type\": \"WordPiece\", \"unk_token\": \"[UNK]\", " + vocab + "},"
                + "\"normalizer\": null, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                + "\"post_processor\": {\"type\": \"BertProcessing\", \"sep\": [\"[SEP]\", 3], \"cls\": [\"[CLS]\", 2]},"
                + "\"padding\": {\"pad_id\": 6, \"pad_type_id\": 1}}";
        WordPieceTokenizer t = WordPieceTokenizer.fromJson(bertProcessing);
        // No normalizer: case is kept, so "AB" is unknown.
        assertArrayEquals(new int[] {2, 4, 5, 1, 3}, t.encode("abc AB", 10).ids());
        WordPieceTokenizer.Batch b = t.encodeBatch(List.of("x", ""), 10);
        assertArrayEquals(new long[] {2, 6, 3, 2, 3, 6}, b.ids());
        assertArrayEquals(new long[] {0, 0, 0, 0, 0, 1}, b.typeIds());

        String noPost = "{\"model\": {\"type\": \"WordPiece\", " + vocab + "}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"}}";
        assertArrayEquals(new int[] {4, 5, 6}, WordPieceTokenizer.fromJson(noPost).encode("abc x", 10).ids());

        String template = "{\"model\": {\"type\": \"WordPiece\", " + vocab + "}, \"pre_tokenizer\": {\"type\": \"BertPreTokenizer\"},"
                + "\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"[CLS]\", \"type_id\": 0}},"
                + "{\"Sequence\": {\"id\": \"A\", \"type_id\": 1}}, {\"SpecialToken\": {\"id\": \"[SEP]\", \"type_id\": 0}}],"
                + "\"special_tokens\": {\"[CLS]\": {\"ids\": [2]}, \"[SEP]\": {\"ids\": [3]}}}}";
        WordPieceTokenizer.Encoding e = WordPieceTokenizer.fromJson(template).encode("x x", 10);
        assertArrayEquals(new int[] {2, 6, 6, 3}, e.ids());
        assertArrayEquals(new int[] {0, 1, 1, 0}, e.typeIds());
    }

    @Test
    void unsupportedComponentsAreRefusedByName() {
        String bpe = "{\"model\": {\"type\": \"BPE\", \"vocab\": {}}}";
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson(bpe)).getMessage().contains("BPE"));
        String nfkc = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"[UNK]\": 0}}, \"normalizer\": {\"type\": \"NFKC\"}}";
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson(nfkc)).getMessage().contains("NFKC"));
        String noUnk = "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}";
        assertTrue(assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson(noUnk)).getMessage().contains("[UNK]"));
        assertThrows(IllegalArgumentException.class, () -> WordPieceTokenizer.fromJson("{\"model\": "));
    }

    @Test
    void characterClasses() {
        assertTrue(WordPieceTokenizer.isPunctuation('~'));
        assertTrue(WordPieceTokenizer.isPunctuation('\u00bf'));
        assertTrue(WordPieceTokenizer.isPunctuation('\u3002'));
        assertTrue(!WordPieceTokenizer.isPunctuation('a'));
        assertTrue(WordPieceTokenizer.isWhitespace('\u2003'));
        assertTrue(!WordPieceTokenizer.isWhitespace('\u200b'));
        assertTrue(WordPieceTokenizer.isControl('\u200b'));
        assertTrue(!WordPieceTokenizer.isControl('\n'));
        assertTrue(WordPieceTokenizer.isChinese(0x4e2d));
        assertTrue(!WordPieceTokenizer.isChinese(0x3042));
        assertTrue(IntStream.of(ids("日本語")).filter(i -> i != CLS && i != SEP).count() == 3);
    }
}
