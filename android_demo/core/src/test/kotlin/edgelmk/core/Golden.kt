package edgelmk.core

import java.io.File

/** The golden vectors written by ``python -m edge_lmk.golden`` (index.json + raw files). */
class Golden(val dir: File) {
    val index: Map<String, Any?> by lazy { Json.parseObject(File(dir, "index.json").readText()) }
    val contract: PreprocessContract by lazy { PreprocessContract.parse(File(dir, "contract.json").readText()) }
    val faces: List<Map<String, Any?>> get() = index.list("faces").map { it.asObject()!! }
    val synthetic: List<Map<String, Any?>> get() = index.list("synthetic").map { it.asObject()!! }
    val faceSet: FaceSet by lazy { FaceSet.parse(File(dir, "index.json").readText()) { bytes(it) } }

    fun bytes(name: String): ByteArray = File(dir, name).readBytes()
    fun floats(name: String): FloatArray = Raw.floats(bytes(name))
    fun doubles(name: String): DoubleArray = Raw.doubles(bytes(name))

    companion object {
        fun square(m: Map<String, Any?>) = FaceSquare(m.num("cx"), m.num("cy"), m.num("side"))
        fun affine(values: List<Any?>): Affine = values.doubles().let { Affine(it[0], it[1], it[2], it[3], it[4], it[5]) }
    }
}

fun maxAbsDiff(a: FloatArray, b: FloatArray): Double {
    require(a.size == b.size) { "size ${a.size} != ${b.size}" }
    var m = 0.0
    for (i in a.indices) m = maxOf(m, Math.abs(a[i].toDouble() - b[i].toDouble()))
    return m
}

fun maxAbsDiff(a: DoubleArray, b: DoubleArray): Double {
    require(a.size == b.size) { "size ${a.size} != ${b.size}" }
    var m = 0.0
    for (i in a.indices) m = maxOf(m, Math.abs(a[i] - b[i]))
    return m
}

fun assertClose(expected: Double, actual: Double, tol: Double, what: String) {
    if (!(Math.abs(expected - actual) <= tol)) throw AssertionError("$what: expected $expected, got $actual (tolerance $tol)")
}

fun assertMaxDiff(diff: Double, tol: Double, what: String) {
    if (!(diff <= tol)) throw AssertionError("$what: max |diff| $diff exceeds $tol")
}
