package dev.gatun.server.pipeline;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The BERT tokenizer as a Hugging Face {@code tokenizer.json} describes it (the format of the {@code tokenizers}
 * library, e.g. the one the langchain4j all-MiniLM-L6-v2 jar ships), for one sequence per text:
 * <ol>
 *   <li>added tokens ({@code [CLS]}, {@code [SEP]}, ...) are split out of the raw text first and map to their id;</li>
 *   <li>{@code BertNormalizer}: clean text (drop NUL, U+FFFD and "other" characters: Cc except tab/CR/LF, Cf, Cn,
 *       Co, Cs; turn White_Space into a space), put spaces around CJK ideographs, strip accents (NFD, then drop
 *       Mn; on by default when lower-casing), lower-case per code point;</li>
 *   <li>{@code BertPreTokenizer}: split on White_Space (dropped) and on punctuation (ASCII punctuation and the
 *       Unicode P* categories, each kept as its own word);</li>
 *   <li>{@code WordPiece}: greedy longest-match-first against the vocabulary, continuation pieces prefixed
 *       {@code ##}; a word longer than {@code max_input_chars_per_word} characters or with an unmatched rest
 *       becomes the single unknown token;</li>
 *   <li>post-processing ({@code TemplateProcessing}'s single-sequence template, {@code BertProcessing} or
 *       {@code RobertaProcessing}): special tokens around the sequence, with their type ids;</li>
 *   <li>truncation: the sequence's tokens are cut so that, with the special tokens, at most {@code maxLength}
 *       remain; {@link #encodeBatch} pads every row to the longest (pad id and pad type id from the file's
 *       {@code padding}, else the {@code [PAD]} token, else 0). The file's own truncation and padding sections are
 *       otherwise ignored: the caller chooses.</li>
 * </ol>
 * Characters are classified with {@link Character}, i.e. the JDK's Unicode version; the {@code tokenizers}
 * library's tables are older, so a character assigned in a recent Unicode version (a new emoji) may be dropped
 * there as unassigned but become {@code [UNK]} here. Instances are immutable and thread-safe.
 */
public final class WordPieceTokenizer {
    /** One text's tokens: ids, type ids and the token strings, special tokens included, not padded. */
    public record Encoding(int[] ids, int[] typeIds, String[] tokens) {}

    /**
     * A padded batch in row-major {@code [batch, length]} order.
     *
     * @param attentionMask 1 for a real token, 0 for padding
     */
    public record Batch(int batch, int length, long[] ids, long[] attentionMask, long[] typeIds) {}

    /** Largest vocabulary supported (ids are below this). */
    static final int MAX_VOCAB = 10_000_000;

    private record AddedToken(String content, int id, boolean normalized) {}

    private final Map<String, Integer> vocab;
    private final String[] tokenById;
    private final int unkId;
    private final String prefix;
    private final int maxInputChars;
    private final int maxTokenChars;
    private final boolean normalize;
    private final boolean cleanText;
    private final boolean chineseChars;
    private final boolean stripAccents;
    private final boolean lowercase;
    private final boolean preTokenize;
    private final AddedToken[] rawAdded;
    private final AddedToken[] normalizedAdded;
    private final int[] headIds;
    private final int[] headTypes;
    private final int[] tailIds;
    private final int[] tailTypes;
    private final int sequenceType;
    private final int padId;
    private final int padTypeId;

    /** Reads a {@code tokenizer.json} file. */
    public static WordPieceTokenizer load(Path file) {
        try {
            return fromJson(new String(readChunked(file), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tokenizer file " + file + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tokenizer file " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * A file's bytes, read 64 KiB at a time: the JDK keeps a per-thread native buffer as large as the largest read
     * into a heap array, so reading a tokenizer (hundreds of KB) whole would leave that much native memory behind on
     * every thread that ever loads a model.
     */
    public static byte[] readChunked(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            byte[] buf = new byte[64 << 10];
            for (int n; (n = in.read(buf, 0, buf.length)) > 0; ) {
                out.write(buf, 0, n);
            }
            return out.toByteArray();
        }
    }

    /** Reads a {@code tokenizer.json} from a stream (e.g. a class-path resource); does not close it. */
    public static WordPieceTokenizer load(InputStream in) {
        try {
            return fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * Builds the tokenizer a {@code tokenizer.json} text describes.
     *
     * @throws IllegalArgumentException for malformed JSON or a component this class does not implement (BPE or
     *                                  Unigram models, other normalizers or pre-tokenizers), naming it
     */
    public static WordPieceTokenizer fromJson(String json) {
        if (!(Json.parse(json) instanceof Map<?, ?> root)) {
            throw new IllegalArgumentException("a tokenizer.json must hold a JSON object");
        }
        return new WordPieceTokenizer(root);
    }

    private WordPieceTokenizer(Map<?, ?> root) {
        Map<?, ?> model = map(root, "model", true);
        String type = str(model, "type", "WordPiece");
        if (!type.equals("WordPiece")) {
            throw new IllegalArgumentException("model type '" + type + "' is not supported; only WordPiece is");
        }
        Map<?, ?> v = map(model, "vocab", true);
        vocab = new HashMap<>(v.size() * 2);
        int maxId = -1;
        int maxChars = 0;
        for (Map.Entry<?, ?> e : v.entrySet()) {
            int id = toInt(e.getValue(), "vocab entry '" + e.getKey() + "'");
            String tok = (String) e.getKey();
            vocab.put(tok, id);
            maxId = Math.max(maxId, id);
            maxChars = Math.max(maxChars, tok.codePointCount(0, tok.length()));
        }
        prefix = str(model, "continuing_subword_prefix", "##");
        maxInputChars = toInt(model.get("max_input_chars_per_word") == null ? 100L : model.get("max_input_chars_per_word"),
                "max_input_chars_per_word");
        maxTokenChars = maxChars;
        String unk = str(model, "unk_token", "[UNK]");
        Integer u = vocab.get(unk);
        if (u == null) {
            throw new IllegalArgumentException("the unknown token '" + unk + "' is not in the vocabulary");
        }
        unkId = u;

        List<AddedToken> raw = new ArrayList<>();
        List<AddedToken> norm = new ArrayList<>();
        Map<Integer, String> addedById = new HashMap<>();
        if (root.get("added_tokens") instanceof List<?> added) {
            for (Object o : added) {
                if (!(o instanceof Map<?, ?> a) || !(a.get("content") instanceof String content) || content.isEmpty()) {
                    throw new IllegalArgumentException("added_tokens entries need a non-empty 'content'");
                }
                int id = toInt(a.get("id"), "added token '" + content + "' id");
                AddedToken t = new AddedToken(content, id, Boolean.TRUE.equals(a.get("normalized")));
                (t.normalized() ? norm : raw).add(t);
                addedById.put(id, content);
                maxId = Math.max(maxId, id);
            }
        }
        if (maxId >= MAX_VOCAB) {
            throw new IllegalArgumentException("token id " + maxId + " is beyond the supported vocabulary size " + MAX_VOCAB);
        }
        rawAdded = raw.toArray(AddedToken[]::new);
        normalizedAdded = norm.toArray(AddedToken[]::new);
        tokenById = new String[maxId + 1];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            tokenById[e.getValue()] = e.getKey();
        }
        addedById.forEach((id, s) -> tokenById[id] = s);

        Map<?, ?> n = map(root, "normalizer", false);
        if (n == null) {
            normalize = cleanText = chineseChars = stripAccents = lowercase = false;
        } else {
            String nt = str(n, "type", "");
            if (!nt.equals("BertNormalizer")) {
                throw new IllegalArgumentException("normalizer '" + nt + "' is not supported; only BertNormalizer is");
            }
            normalize = true;
            cleanText = bool(n, "clean_text", true);
            chineseChars = bool(n, "handle_chinese_chars", true);
            lowercase = bool(n, "lowercase", true);
            stripAccents = n.get("strip_accents") == null ? lowercase : bool(n, "strip_accents", lowercase);
        }

        Map<?, ?> pt = map(root, "pre_tokenizer", false);
        if (pt != null && !str(pt, "type", "").equals("BertPreTokenizer")) {
            throw new IllegalArgumentException("pre_tokenizer '" + str(pt, "type", "") + "' is not supported; only BertPreTokenizer is");
        }
        preTokenize = pt != null;

        List<int[]> head = new ArrayList<>();
        List<int[]> tail = new ArrayList<>();
        int seqType = 0;
        Map<?, ?> post = map(root, "post_processor", false);
        if (post != null) {
            String ptype = str(post, "type", "");
            switch (ptype) {
                case "TemplateProcessing" -> seqType = template(post, head, tail);
                case "BertProcessing", "RobertaProcessing" -> {
                    head.add(new int[] {specialPair(post, "cls"), 0});
                    tail.add(new int[] {specialPair(post, "sep"), 0});
                }
                default -> throw new IllegalArgumentException("post_processor '" + ptype + "' is not supported; "
                        + "TemplateProcessing, BertProcessing and RobertaProcessing are");
            }
        }
        headIds = head.stream().mapToInt(a -> a[0]).toArray();
        headTypes = head.stream().mapToInt(a -> a[1]).toArray();
        tailIds = tail.stream().mapToInt(a -> a[0]).toArray();
        tailTypes = tail.stream().mapToInt(a -> a[1]).toArray();
        sequenceType = seqType;

        Map<?, ?> padding = map(root, "padding", false);
        Integer pad = vocab.get("[PAD]");
        if (padding != null && padding.get("pad_id") != null) {
            padId = toInt(padding.get("pad_id"), "padding.pad_id");
            padTypeId = padding.get("pad_type_id") == null ? 0 : toInt(padding.get("pad_type_id"), "padding.pad_type_id");
        } else {
            padId = pad == null ? 0 : pad;
            padTypeId = 0;
        }
    }

    /** Reads the single-sequence template into head/tail specials; returns the sequence's type id. */
    private static int template(Map<?, ?> post, List<int[]> head, List<int[]> tail) {
        if (!(post.get("single") instanceof List<?> single)) {
            throw new IllegalArgumentException("TemplateProcessing needs a 'single' template");
        }
        Map<?, ?> specials = map(post, "special_tokens", false);
        boolean seen = false;
        int seqType = 0;
        for (Object o : single) {
            if (!(o instanceof Map<?, ?> piece)) {
                throw new IllegalArgumentException("TemplateProcessing: malformed template piece " + o);
            }
            if (piece.get("Sequence") instanceof Map<?, ?> s) {
                if (seen) {
                    throw new IllegalArgumentException("TemplateProcessing: the single template names the sequence twice");
                }
                seen = true;
                seqType = s.get("type_id") == null ? 0 : toInt(s.get("type_id"), "Sequence type_id");
            } else if (piece.get("SpecialToken") instanceof Map<?, ?> st) {
                String name = str(st, "id", null);
                int typeId = st.get("type_id") == null ? 0 : toInt(st.get("type_id"), "SpecialToken type_id");
                Map<?, ?> def = specials == null ? null : map(specials, name, false);
                if (def == null || !(def.get("ids") instanceof List<?> ids) || ids.isEmpty()) {
                    throw new IllegalArgumentException("TemplateProcessing: special token '" + name + "' has no ids");
                }
                for (Object id : ids) {
                    (seen ? tail : head).add(new int[] {toInt(id, "special token '" + name + "' id"), typeId});
                }
            } else {
                throw new IllegalArgumentException("TemplateProcessing: malformed template piece " + o);
            }
        }
        if (!seen) {
            throw new IllegalArgumentException("TemplateProcessing: the single template has no Sequence");
        }
        return seqType;
    }

    private static int specialPair(Map<?, ?> post, String key) {
        if (!(post.get(key) instanceof List<?> l) || l.size() != 2) {
            throw new IllegalArgumentException("post_processor." + key + " must be [token, id]");
        }
        return toInt(l.get(1), "post_processor." + key + " id");
    }

    /** Number of special tokens the post-processor adds to one sequence. */
    public int specialTokenCount() {
        return headIds.length + tailIds.length;
    }

    /** The padding id. */
    public int padId() {
        return padId;
    }

    /** Largest token id + 1. */
    public int vocabSize() {
        return tokenById.length;
    }

    /** The id of a vocabulary or added token, or -1. */
    public int tokenId(String token) {
        for (AddedToken t : rawAdded) {
            if (t.content().equals(token)) {
                return t.id();
            }
        }
        Integer id = vocab.get(token);
        return id == null ? -1 : id;
    }

    /**
     * Tokenizes one text, special tokens included, truncated to at most {@code maxLength} tokens in all.
     *
     * @throws IllegalArgumentException when {@code maxLength} leaves no room for the special tokens plus one token
     */
    public Encoding encode(String text, int maxLength) {
        int room = maxLength - specialTokenCount();
        if (room < 1) {
            throw new IllegalArgumentException("maxLength " + maxLength + " leaves no room next to the "
                    + specialTokenCount() + " special tokens");
        }
        IntList ids = new IntList();
        for (Object part : splitAdded(text, rawAdded)) {
            if (ids.size >= room) {
                break;
            }
            if (part instanceof Integer id) {
                ids.add(id);
            } else {
                String normalized = normalize((String) part);
                for (Object p : splitAdded(normalized, normalizedAdded)) {
                    if (ids.size >= room) {
                        break;
                    }
                    if (p instanceof Integer id) {
                        ids.add(id);
                    } else {
                        words((String) p, ids, room);
                    }
                }
            }
        }
        int n = Math.min(ids.size, room);
        int total = headIds.length + n + tailIds.length;
        int[] out = new int[total];
        int[] types = new int[total];
        System.arraycopy(headIds, 0, out, 0, headIds.length);
        System.arraycopy(headTypes, 0, types, 0, headIds.length);
        System.arraycopy(ids.data, 0, out, headIds.length, n);
        Arrays.fill(types, headIds.length, headIds.length + n, sequenceType);
        System.arraycopy(tailIds, 0, out, headIds.length + n, tailIds.length);
        System.arraycopy(tailTypes, 0, types, headIds.length + n, tailIds.length);
        String[] tokens = new String[total];
        for (int i = 0; i < total; i++) {
            tokens[i] = out[i] < tokenById.length && tokenById[out[i]] != null ? tokenById[out[i]] : "";
        }
        return new Encoding(out, types, tokens);
    }

    /** Tokenizes every text (see {@link #encode}) and pads the rows to the longest. */
    public Batch encodeBatch(List<String> texts, int maxLength) {
        int[][] rows = new int[texts.size()][];
        int[][] types = new int[texts.size()][];
        int len = 0;
        for (int i = 0; i < rows.length; i++) {
            Encoding e = encode(texts.get(i), maxLength);
            rows[i] = e.ids();
            types[i] = e.typeIds();
            len = Math.max(len, rows[i].length);
        }
        long[] ids = new long[rows.length * len];
        long[] mask = new long[ids.length];
        long[] typeIds = new long[ids.length];
        for (int i = 0; i < rows.length; i++) {
            int base = i * len;
            for (int j = 0; j < len; j++) {
                boolean real = j < rows[i].length;
                ids[base + j] = real ? rows[i][j] : padId;
                mask[base + j] = real ? 1 : 0;
                typeIds[base + j] = real ? types[i][j] : padTypeId;
            }
        }
        return new Batch(rows.length, len, ids, mask, typeIds);
    }

    /** The text cut around added tokens (leftmost, longest first): Strings and Integer ids, in order. */
    private static List<Object> splitAdded(String text, AddedToken[] added) {
        if (added.length == 0) {
            return List.of(text);
        }
        List<Object> parts = new ArrayList<>();
        int start = 0;
        for (int i = 0; i < text.length(); i++) {
            AddedToken best = null;
            for (AddedToken t : added) {
                if ((best == null || t.content().length() > best.content().length()) && text.startsWith(t.content(), i)) {
                    best = t;
                }
            }
            if (best != null) {
                if (i > start) {
                    parts.add(text.substring(start, i));
                }
                parts.add(best.id());
                i += best.content().length() - 1;
                start = i + 1;
            }
        }
        if (start < text.length()) {
            parts.add(text.substring(start));
        }
        return parts;
    }

    /** The BertNormalizer steps, in the library's order: clean, CJK, accents, lower case. */
    String normalize(String text) {
        if (!normalize) {
            return text;
        }
        StringBuilder b = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            if (cleanText) {
                if (c == 0 || c == 0xfffd || isControl(c)) {
                    continue;
                }
                if (isWhitespace(c)) {
                    c = ' ';
                }
            }
            if (chineseChars && isChinese(c)) {
                b.append(' ').appendCodePoint(c).append(' ');
            } else {
                b.appendCodePoint(c);
            }
        }
        String s = b.toString();
        if (stripAccents) {
            String d = Normalizer.normalize(s, Normalizer.Form.NFD);
            b.setLength(0);
            for (int i = 0; i < d.length(); ) {
                int c = d.codePointAt(i);
                i += Character.charCount(c);
                if (Character.getType(c) != Character.NON_SPACING_MARK) {
                    b.appendCodePoint(c);
                }
            }
            s = b.toString();
        }
        if (lowercase) {
            b.setLength(0);
            for (int i = 0; i < s.length(); ) {
                int c = s.codePointAt(i);
                i += Character.charCount(c);
                if (c == 0x130) {
                    b.append("i\u0307"); // the one unconditional multi-character lower-case mapping
                } else {
                    b.appendCodePoint(Character.toLowerCase(c));
                }
            }
            s = b.toString();
        }
        return s;
    }

    /** Pre-tokenizes a normalized segment and appends the WordPiece ids of each word, until {@code room} ids. */
    private void words(String s, IntList out, int room) {
        if (!preTokenize) {
            if (!s.isEmpty()) {
                wordPiece(s, out);
            }
            return;
        }
        int start = -1;
        for (int i = 0; i < s.length() && out.size < room; ) {
            int c = s.codePointAt(i);
            int n = Character.charCount(c);
            if (isWhitespace(c) || isPunctuation(c)) {
                if (start >= 0) {
                    wordPiece(s.substring(start, i), out);
                    start = -1;
                }
                if (!isWhitespace(c) && out.size < room) {
                    wordPiece(s.substring(i, i + n), out);
                }
            } else if (start < 0) {
                start = i;
            }
            i += n;
        }
        if (start >= 0 && out.size < room) {
            wordPiece(s.substring(start), out);
        }
    }

    /** Greedy longest-match-first WordPiece of one word. */
    private void wordPiece(String word, IntList out) {
        int chars = word.codePointCount(0, word.length());
        if (chars > maxInputChars) {
            out.add(unkId);
            return;
        }
        int mark = out.size;
        int start = 0;
        StringBuilder piece = new StringBuilder(word.length() + prefix.length());
        while (start < word.length()) {
            int end = word.offsetByCodePoints(start, Math.min(maxTokenChars, word.codePointCount(start, word.length())));
            Integer found = null;
            while (end > start) {
                piece.setLength(0);
                if (start > 0) {
                    piece.append(prefix);
                }
                piece.append(word, start, end);
                found = vocab.get(piece.toString());
                if (found != null) {
                    break;
                }
                end = word.offsetByCodePoints(end, -1);
            }
            if (found == null) {
                out.size = mark;
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
        }
    }

    /** White_Space as Rust's {@code char::is_whitespace} defines it. */
    static boolean isWhitespace(int c) {
        return switch (c) {
            case '\t', '\n', 0x0b, 0x0c, '\r', ' ', 0x85 -> true;
            default -> {
                int t = Character.getType(c);
                yield t == Character.SPACE_SEPARATOR || t == Character.LINE_SEPARATOR || t == Character.PARAGRAPH_SEPARATOR;
            }
        };
    }

    /** Unicode "other" (Cc, Cf, Cn, Co, Cs), tab, line feed and carriage return excepted. */
    static boolean isControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') {
            return false;
        }
        int t = Character.getType(c);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.UNASSIGNED
                || t == Character.PRIVATE_USE || t == Character.SURROGATE;
    }

    /** ASCII punctuation (symbols such as $ + < = > ^ ` | ~ included) or a Unicode P* category. */
    static boolean isPunctuation(int c) {
        if (c < 128) {
            return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
        }
        return switch (Character.getType(c)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                 Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION, Character.FINAL_QUOTE_PUNCTUATION,
                 Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
    }

    /** The CJK ideograph blocks BERT isolates. */
    static boolean isChinese(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    private static Map<?, ?> map(Map<?, ?> m, String key, boolean required) {
        Object o = m.get(key);
        if (o == null && !required) {
            return null;
        }
        if (!(o instanceof Map<?, ?> r)) {
            throw new IllegalArgumentException("'" + key + "' must be a JSON object");
        }
        return r;
    }

    private static String str(Map<?, ?> m, String key, String dflt) {
        Object o = m.get(key);
        if (o == null) {
            if (dflt == null) {
                throw new IllegalArgumentException("'" + key + "' is missing");
            }
            return dflt;
        }
        if (!(o instanceof String s)) {
            throw new IllegalArgumentException("'" + key + "' must be a string");
        }
        return s;
    }

    private static boolean bool(Map<?, ?> m, String key, boolean dflt) {
        Object o = m.get(key);
        if (o == null) {
            return dflt;
        }
        if (!(o instanceof Boolean b)) {
            throw new IllegalArgumentException("'" + key + "' must be true or false");
        }
        return b;
    }

    private static int toInt(Object o, String what) {
        if (!(o instanceof Long l) || l < 0 || l > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(what + " must be a non-negative integer, got " + o);
        }
        return (int) (long) l;
    }

    /** A growable int array. */
    private static final class IntList {
        int[] data = new int[64];
        int size;

        void add(int v) {
            if (size == data.length) {
                data = Arrays.copyOf(data, size * 2);
            }
            data[size++] = v;
        }
    }
}
