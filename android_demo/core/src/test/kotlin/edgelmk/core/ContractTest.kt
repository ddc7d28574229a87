package edgelmk.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith

fun contractTests(s: Suite) {
    s.test("contract: parses PreprocessContract.to_json() as written by Python") {
        val c = PreprocessContract.parse(File(s.golden, "contract.json").readText()).requireSupported()
        assertEquals(80, c.inputSize)
        assertEquals(68, c.numLandmarks)
        assertEquals(1.0 / 255.0, c.pixelScale)
        assertEquals(1.3, c.cropScale)
        assertEquals(listOf(1, 3, 80, 80), c.inputShape.toList())
    }
    s.test("contract: a sidecar nesting the contract keeps its other fields as metadata") {
        val bare = File(s.golden, "contract.json").readText()
        val c = PreprocessContract.parse("""{"model": "laplacekl_w1_8", "precision": "int8", "contract": $bare}""")
        assertEquals(80, c.inputSize)
        assertEquals("int8", c.metadata["precision"])
        assertEquals("laplacekl_w1_8", c.metadata["model"])
    }
    s.test("contract: refuses what the core cannot honour, naming the field") {
        val bare = File(s.golden, "contract.json").readText()
        val bgr = PreprocessContract.parse(bare.replace("\"RGB\"", "\"BGR\""))
        val e = assertFailsWith<PreprocessContract.UnsupportedContract> { bgr.requireSupported() }
        assert(e.message!!.contains("color")) { e.message!! }
        val nhwc = PreprocessContract.parse(bare.replace("\"NCHW\"", "\"NHWC\""))
        assertFailsWith<PreprocessContract.UnsupportedContract> { nhwc.requireSupported() }
        assertFailsWith<IllegalArgumentException> { PreprocessContract.parse("""{"input_size": 80}""") }
    }
}
