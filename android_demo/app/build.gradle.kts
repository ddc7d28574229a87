import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)  // AGP 9: Kotlin support is built in
}

android {
    namespace = "edgelmk.demo"
    compileSdk = 36

    defaultConfig {
        applicationId = "edgelmk.demo"
        minSdk = 26           // LiteRT 2.3 needs 24, ExecuTorch 23; 26 keeps Build/Camera APIs simple
        targetSdk = 36
        versionCode = 1
        versionName = "0.1.0"
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
        ndk {
            abiFilters += listOf("arm64-v8a", "x86_64")  // the ABIs the ExecuTorch AAR ships
        }
    }

    buildTypes {
        release {
            isMinifyEnabled = false  // JNI-reflected runtime classes; no keep rules to maintain
            signingConfig = signingConfigs.getByName("debug")  // a demo: installable release build
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    androidResources {
        // models stay uncompressed so they can be copied/mapped quickly
        noCompress += listOf("tflite", "pte", "u8", "f64")
    }

    packaging {
        jniLibs {
            // both runtimes may bring the NDK's C++ runtime; one copy is enough
            pickFirsts += listOf("**/libc++_shared.so", "**/libfbjni.so")
        }
    }
}

kotlin {
    compilerOptions { jvmTarget.set(JvmTarget.JVM_17) }  // same as compileOptions above
}

dependencies {
    implementation(project(":core"))
    implementation(libs.androidx.activity)
    implementation(libs.camerax.core)
    implementation(libs.camerax.camera2)
    implementation(libs.camerax.lifecycle)
    implementation(libs.camerax.view)
    implementation(libs.executorch.android)
    implementation(libs.litert)

    androidTestImplementation(libs.androidx.test.runner)
    androidTestImplementation(libs.androidx.test.ext.junit)
    androidTestImplementation(libs.junit)
}
