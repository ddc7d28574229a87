package edgelmk.core

import java.nio.ByteBuffer
import java.nio.ByteOrder

/**
 * Faces with ground truth stored as raw files named by a JSON index: the benchmark's
 * bundled sample faces (assets/bench/index.json, written by ``python -m export.android``)
 * and the golden vectors (``edge_lmk/golden.py``) share this layout:
 * {"faces": [{"name", "width", "height", "image": "<HxWx3 uint8 file>",
 *             "landmarks": "<68x2 float64 little-endian file, continuous photo px>"}, ...]}.
 * Files are read through [read] so the same code serves Android assets and plain files.
 */
class FaceSet(val entries: List<Entry>, private val read: (String) -> ByteArray) {
    class Entry(val name: String, val width: Int, val height: Int, val imageFile: String, val landmarksFile: String,
                val fields: Map<String, Any?>)

    class Face(val name: String, val image: RgbImage, val landmarks: DoubleArray)

    val size get() = entries.size

    fun load(i: Int): Face {
        val e = entries[i]
        return Face(e.name, RgbImage(e.width, e.height, read(e.imageFile)), Raw.doubles(read(e.landmarksFile)))
    }

    companion object {
        fun parse(indexJson: String, read: (String) -> ByteArray): FaceSet {
            val faces = Json.parseObject(indexJson).list("faces").map {
                val f = it.asObject() ?: throw IllegalArgumentException("faces: expected objects")
                Entry(f.str("name"), f.int("width"), f.int("height"), f.str("image"), f.str("landmarks"), f)
            }
            return FaceSet(faces, read)
        }
    }
}

/** Little-endian raw arrays, the format of every binary golden/bench file. */
object Raw {
    fun floats(bytes: ByteArray): FloatArray {
        require(bytes.size % 4 == 0) { "float32 file size ${bytes.size} is not a multiple of 4" }
        val b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        return FloatArray(b.remaining()).also { b.get(it) }
    }

    fun doubles(bytes: ByteArray): DoubleArray {
        require(bytes.size % 8 == 0) { "float64 file size ${bytes.size} is not a multiple of 8" }
        val b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer()
        return DoubleArray(b.remaining()).also { b.get(it) }
    }
}
