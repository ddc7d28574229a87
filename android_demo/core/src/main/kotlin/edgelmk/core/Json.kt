package edgelmk.core

/**
 * A small JSON reader/writer so the core has no dependencies (org.json is an Android API,
 * and the contract sidecars, golden index and benchmark report are all tiny).
 *
 * Values map to: object -> Map<String, Any?> (insertion ordered), array -> List<Any?>,
 * string -> String, number -> Double, true/false -> Boolean, null -> null.
 */
object Json {
    class ParseException(message: String) : IllegalArgumentException(message)

    fun parse(text: String): Any? {
        val p = Parser(text)
        p.skipWs()
        val v = p.value()
        p.skipWs()
        if (!p.atEnd()) p.fail("trailing characters")
        return v
    }

    /** Parse text that must be a JSON object. */
    fun parseObject(text: String): Map<String, Any?> =
        parse(text).asObject() ?: throw ParseException("expected a JSON object at the top level")

    /** Serialise maps, lists, strings, numbers, booleans and null; [indent] 0 gives one line. */
    fun write(value: Any?, indent: Int = 2): String = StringBuilder().also { writeTo(it, value, indent, 0) }.toString()

    private fun writeTo(sb: StringBuilder, v: Any?, indent: Int, depth: Int) {
        when (v) {
            null -> sb.append("null")
            is String -> quote(sb, v)
            is Boolean -> sb.append(v)
            is Int, is Long, is Short, is Byte -> sb.append(v)
            is Float -> number(sb, v.toDouble())
            is Double -> number(sb, v)
            is Map<*, *> -> container(sb, v.entries.toList(), '{', '}', indent, depth) { e ->
                quote(sb, e.key.toString()); sb.append(if (indent > 0) ": " else ":"); writeTo(sb, e.value, indent, depth + 1)
            }
            is Iterable<*> -> container(sb, v.toList(), '[', ']', indent, depth) { writeTo(sb, it, indent, depth + 1) }
            is DoubleArray -> writeTo(sb, v.toList(), indent, depth)
            is FloatArray -> writeTo(sb, v.toList(), indent, depth)
            is IntArray -> writeTo(sb, v.toList(), indent, depth)
            else -> throw IllegalArgumentException("cannot write ${v::class.simpleName} as JSON")
        }
    }

    private fun <T> container(sb: StringBuilder, items: List<T>, open: Char, close: Char, indent: Int, depth: Int,
                              item: (T) -> Unit) {
        sb.append(open)
        if (items.isEmpty()) { sb.append(close); return }
        items.forEachIndexed { i, it ->
            if (i > 0) sb.append(',')
            if (indent > 0) sb.append('\n').append(" ".repeat(indent * (depth + 1)))
            item(it)
        }
        if (indent > 0) sb.append('\n').append(" ".repeat(indent * depth))
        sb.append(close)
    }

    // JSON has no NaN/Infinity: a missing measurement is written as null rather than an invalid file.
    private fun number(sb: StringBuilder, d: Double) {
        if (d.isNaN() || d.isInfinite()) sb.append("null")
        else if (d == Math.rint(d) && Math.abs(d) < 1e15) sb.append(d.toLong()).append(".0")
        else sb.append(d.toString())  // shortest repr that round-trips, e.g. 1.0E-5 (valid JSON)
    }

    private fun quote(sb: StringBuilder, s: String) {
        sb.append('"')
        for (c in s) {
            when {
                c == '"' -> sb.append("\\\"")
                c == '\\' -> sb.append("\\\\")
                c == '\n' -> sb.append("\\n")
                c == '\r' -> sb.append("\\r")
                c == '\t' -> sb.append("\\t")
                c < ' ' -> sb.append(String.format("\\u%04x", c.code))
                else -> sb.append(c)
            }
        }
        sb.append('"')
    }

    private class Parser(val s: String) {
        var i = 0

        fun atEnd() = i >= s.length
        fun fail(msg: String): Nothing = throw ParseException("JSON error at offset $i: $msg")

        fun skipWs() {
            while (i < s.length && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++
        }

        fun value(): Any? {
            if (atEnd()) fail("unexpected end of input")
            return when (val c = s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                else -> if (c == '-' || c in '0'..'9') num() else fail("unexpected character '$c'")
            }
        }

        fun literal(word: String, v: Any?): Any? {
            if (!s.startsWith(word, i)) fail("expected $word")
            i += word.length
            return v
        }

        fun obj(): Map<String, Any?> {
            val m = LinkedHashMap<String, Any?>()
            i++
            skipWs()
            if (i < s.length && s[i] == '}') { i++; return m }
            while (true) {
                skipWs()
                if (atEnd() || s[i] != '"') fail("expected a string key")
                val k = str()
                skipWs()
                if (atEnd() || s[i] != ':') fail("expected ':'")
                i++
                skipWs()
                m[k] = value()
                skipWs()
                if (atEnd()) fail("unterminated object")
                when (s[i]) {
                    ',' -> i++
                    '}' -> { i++; return m }
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        fun arr(): List<Any?> {
            val l = ArrayList<Any?>()
            i++
            skipWs()
            if (i < s.length && s[i] == ']') { i++; return l }
            while (true) {
                skipWs()
                l.add(value())
                skipWs()
                if (atEnd()) fail("unterminated array")
                when (s[i]) {
                    ',' -> i++
                    ']' -> { i++; return l }
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        fun str(): String {
            val sb = StringBuilder()
            i++
            while (true) {
                if (atEnd()) fail("unterminated string")
                val c = s[i++]
                when {
                    c == '"' -> return sb.toString()
                    c == '\\' -> {
                        if (atEnd()) fail("bad escape")
                        when (val e = s[i++]) {
                            '"' -> sb.append('"'); '\\' -> sb.append('\\'); '/' -> sb.append('/')
                            'b' -> sb.append('\b'); 'f' -> sb.append('\u000C'); 'n' -> sb.append('\n')
                            'r' -> sb.append('\r'); 't' -> sb.append('\t')
                            'u' -> {
                                if (i + 4 > s.length) fail("bad \\u escape")
                                sb.append(s.substring(i, i + 4).toIntOrNull(16)?.toChar() ?: fail("bad \\u escape"))
                                i += 4
                            }
                            else -> fail("bad escape '\\$e'")
                        }
                    }
                    c < ' ' -> fail("control character in string")
                    else -> sb.append(c)
                }
            }
        }

        fun num(): Double {
            val start = i
            if (s[i] == '-') i++
            while (i < s.length && (s[i].isDigit() || s[i] in ".eE+-")) i++
            val t = s.substring(start, i)
            // Kotlin's toDouble accepts forms JSON forbids ("1.", ".5", "NaN"); check the grammar first.
            if (!NUMBER.matches(t)) fail("bad number '$t'")
            return t.toDouble()
        }

        companion object {
            val NUMBER = Regex("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?")
        }
    }
}

// Typed accessors for parsed JSON; each names the key in its error so a bad sidecar is easy to fix.
/** A parsed JSON object, or null for any other value (the parser only makes String keys). */
@Suppress("UNCHECKED_CAST")
fun Any?.asObject(): Map<String, Any?>? = this as? Map<String, Any?>

fun Map<String, Any?>.obj(key: String): Map<String, Any?> =
    this[key].asObject() ?: throw IllegalArgumentException("'$key': expected an object")

fun Map<String, Any?>.list(key: String): List<Any?> =
    this[key] as? List<Any?> ?: throw IllegalArgumentException("'$key': expected an array")

fun Map<String, Any?>.num(key: String): Double =
    (this[key] as? Number)?.toDouble() ?: throw IllegalArgumentException("'$key': expected a number")

fun Map<String, Any?>.int(key: String): Int {
    val d = num(key)
    require(d == Math.rint(d)) { "'$key': expected an integer, got $d" }
    return d.toInt()
}

fun Map<String, Any?>.str(key: String): String =
    this[key] as? String ?: throw IllegalArgumentException("'$key': expected a string")

fun Map<String, Any?>.strOrNull(key: String): String? = this[key] as? String

fun List<Any?>.doubles(): DoubleArray = DoubleArray(size) {
    (this[it] as? Number)?.toDouble() ?: throw IllegalArgumentException("expected numbers in array, got ${this[it]}")
}

fun List<Any?>.ints(): IntArray = doubles().map { it.toInt() }.toIntArray()
