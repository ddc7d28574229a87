package edgelmk.core

import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull
import kotlin.test.assertTrue

fun jsonTests(s: Suite) {
    s.test("json: parses nested values with Python's number forms") {
        val v = Json.parseObject("""{"a": [1, -2.5, 1e-3, 0.00392156862745098], "b": {"c": null, "d": true}, "e": "x\"\\\u00e9\n"}""")
        assertEquals(listOf(1.0, -2.5, 0.001, 0.00392156862745098), v.list("a"))
        assertNull(v.obj("b")["c"])
        assertEquals(true, v.obj("b")["d"])
        assertEquals("x\"\\\u00e9\n", v.str("e"))
    }
    s.test("json: rejects malformed input with an offset") {
        for (bad in listOf("{", "[1,]", "{\"a\" 1}", "01", "1.", ".5", "NaN", "{\"a\":1} x", "\"\\q\"")) {
            assertFailsWith<Json.ParseException>(bad) { Json.parse(bad) }
        }
    }
    s.test("json: write then parse round-trips doubles exactly") {
        val values = listOf(0.1, 1.0 / 3.0, 2.7919486235169804, 1e-12, 123456789.125, -0.0, 33.599999999999994)
        val back = Json.parseObject(Json.write(mapOf("v" to values, "n" to null, "s" to "q\"\t"))).list("v")
        assertEquals(values.map { it + 0.0 }, back)  // -0.0 is written as 0.0 (JSON has one zero)
    }
    s.test("json: NaN and infinities are written as null, integers without a fraction") {
        val text = Json.write(mapOf("a" to Double.NaN, "b" to Double.POSITIVE_INFINITY, "c" to 3, "d" to 2.0), indent = 0)
        assertEquals("""{"a":null,"b":null,"c":3,"d":2.0}""", text)
    }
    s.test("json: reads the golden index written by Python") {
        val idx = Golden(s.golden).index
        assertEquals("edge-lmk-golden/1", idx.str("format"))
        assertTrue(idx.list("faces").size >= 4)
    }
}
