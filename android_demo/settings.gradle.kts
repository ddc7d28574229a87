pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()        // CameraX, AndroidX, LiteRT
        mavenCentral()  // ExecuTorch (org.pytorch), fbjni, soloader, Kotlin
    }
}

rootProject.name = "edge-lmk-android-demo"
include(":core", ":app")
