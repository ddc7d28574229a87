package edgelmk.core

import java.io.File
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith

fun modelCatalogTests(s: Suite) {
    val contract = File(s.golden, "contract.json").readText()
    s.test("catalog: models are the .pte/.tflite files with a sidecar, detector excluded") {
        val files = mapOf(
            "laplacekl_w1_8_fp32.pte" to "", "laplacekl_w1_8_fp32.pte.json" to """{"contract": $contract, "model": "laplacekl_w1_8"}""",
            "laplacekl_w1_8_int8.tflite" to "", "laplacekl_w1_8_int8.tflite.json" to contract,
            "no_sidecar.tflite" to "", ModelCatalog.DETECTOR_FILE to "", "bench" to "",
        )
        val models = ModelCatalog.list(files.keys) { files.getValue(it) }
        assertEquals(listOf("laplacekl_w1_8_fp32.pte", "laplacekl_w1_8_int8.tflite"), models.map { it.file })
        assertEquals(listOf("executorch-xnnpack", "litert-cpu"), models.map { it.backend })
        assertEquals(listOf("fp32", "int8"), models.map { it.precision })
        assertEquals(listOf("laplacekl_w1_8", "laplacekl_w1_8"), models.map { it.model })
        assertEquals(80, models[1].contract.inputSize)
    }
    s.test("catalog: precision from the sidecar wins over the file name; unknown stays unknown") {
        assertEquals("int8", ModelCatalog.precisionOf("m_fp32.pte", mapOf("precision" to "int8")))
        assertEquals("8da4w", ModelCatalog.precisionOf("laplacekl_w1_8_8da4w.pte", emptyMap()))
        assertEquals("unknown", ModelCatalog.precisionOf("laplacekl_w1_8.tflite", emptyMap()))
        assertEquals("laplacekl_w1_16", ModelCatalog.modelNameOf("laplacekl_w1_16_int8.tflite", emptyMap()))
    }
    s.test("catalog: a sidecar with an unsupported contract is refused, not guessed at") {
        val files = mapOf("m.tflite" to "", "m.tflite.json" to contract.replace("\"NCHW\"", "\"NHWC\""))
        assertFailsWith<PreprocessContract.UnsupportedContract> { ModelCatalog.list(files.keys) { files.getValue(it) } }
    }
}
