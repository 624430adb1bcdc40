# The Palisade addon: a thin node-addon-api layer over libbpf. Built by scripts/build-native.mjs
# (node-gyp --nodedir=/usr, so headers come from the local node install and nothing is downloaded).
{
  "targets": [
    {
      "target_name": "palisade",
      "sources": ["src/addon.cc", "src/native_error.cc", "src/abi.cc", "src/probe.cc", "src/programs.cc", "src/session.cc", "src/drain.cc", "src/stats.cc", "src/filter_maps.cc", "src/filter_spec.cc", "src/record_frame.cc", "src/test_hooks.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "../bpf/include"
      ],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
