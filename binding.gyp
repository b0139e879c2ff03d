{
  # libtorch's location comes from scripts/build-addon.mjs (MIEN_LIBTORCH or Debian's libtorch-dev), so this one file
  # serves both layouts.
  "targets": [
    {
      "target_name": "mien_torch",
      "sources": ["addon/mien_torch.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/build-addon.mjs --print include_dirs)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NODE_ADDON_API_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node scripts/build-addon.mjs --print defines)"
      ],
      # libtorch reports errors as C++ exceptions and its headers use RTTI.
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter"],
      "libraries": ["<!@(node scripts/build-addon.mjs --print libraries)"],
      "ldflags": ["<!@(node scripts/build-addon.mjs --print ldflags)"]
    }
  ]
}
