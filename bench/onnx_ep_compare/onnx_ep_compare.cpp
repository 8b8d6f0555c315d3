// Runs models written by `detsharp export onnx` in ONNX Runtime's CPU and CUDA execution providers on the same inputs
// and prints, per output, whether the shapes agree, the largest difference, NaNs, and the time per run of each provider.
// DetSharp's own runtime (Detector.FromOnnx) needs libtorch beside ONNX Runtime; this small program needs only ONNX
// Runtime's GPU build, so it runs on a GPU machine without .NET. See bench/README.md ("ONNX Runtime's CUDA provider").
//
// Usage: onnx_ep_compare MANIFEST [RUNS]
// MANIFEST: blocks of
//   case NAME MODEL.onnx                    (an absolute path, or relative to the manifest)
//   input GRAPH_INPUT_NAME FILE DIM...      (FILE: raw little-endian float32, relative to the manifest)
//   end
// as `DetSharp.Bench onnx-inputs MODEL.onnx DIR IMAGE...` writes them.
#include <onnxruntime_cxx_api.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Input {
    std::string name;
    std::vector<float> data;
    std::vector<int64_t> shape;
};

struct Case {
    std::string name, model;
    std::vector<Input> inputs;
};

std::vector<float> ReadFloats(const std::string& path) {
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot read " + path);
    std::vector<float> v(static_cast<size_t>(f.tellg()) / sizeof(float));
    f.seekg(0);
    f.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    return v;
}

std::vector<Case> ReadManifest(const std::string& path) {
    std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
    std::ifstream f(path);
    std::vector<Case> cases;
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        std::string kind;
        s >> kind;
        if (kind == "case") {
            Case c;
            s >> c.name >> c.model;
            if (c.model.empty() || c.model[0] != '/') c.model = dir + "/" + c.model;
            cases.push_back(c);
        } else if (kind == "input") {
            Input in;
            std::string file;
            s >> in.name >> file;
            int64_t d;
            while (s >> d) in.shape.push_back(d);
            in.data = ReadFloats(dir + "/" + file);
            cases.back().inputs.push_back(std::move(in));
        }
    }
    return cases;
}

struct Result {
    std::vector<std::string> names;
    std::vector<Ort::Value> values;
    double ms = 0;
};

Result Run(Ort::Env& env, const Case& c, bool cuda, int runs) {
    Ort::SessionOptions options;
    options.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    if (cuda) {
        OrtCUDAProviderOptions cudaOptions{};
        cudaOptions.device_id = 0;
        options.AppendExecutionProvider_CUDA(cudaOptions);
    }
    Ort::Session session(env, c.model.c_str(), options);
    Ort::AllocatorWithDefaultOptions allocator;
    Result r;
    std::vector<const char*> outNames;
    for (size_t i = 0; i < session.GetOutputCount(); i++) r.names.push_back(session.GetOutputNameAllocated(i, allocator).get());
    for (auto& n : r.names) outNames.push_back(n.c_str());
    auto memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::vector<Ort::Value> inputs;
    std::vector<const char*> inNames;
    for (auto& in : c.inputs) {
        inputs.push_back(Ort::Value::CreateTensor<float>(memory, const_cast<float*>(in.data.data()), in.data.size(), in.shape.data(), in.shape.size()));
        inNames.push_back(in.name.c_str());
    }
    // One warm-up run (CUDA: kernel loading, cuDNN algorithm search), then the mean of `runs`.
    r.values = session.Run(Ort::RunOptions{nullptr}, inNames.data(), inputs.data(), inputs.size(), outNames.data(), outNames.size());
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < runs; i++)
        r.values = session.Run(Ort::RunOptions{nullptr}, inNames.data(), inputs.data(), inputs.size(), outNames.data(), outNames.size());
    r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / runs;
    return r;
}

std::string Shape(const Ort::Value& v) {
    std::string s = "[";
    for (auto d : v.GetTensorTypeAndShapeInfo().GetShape()) s += (s.size() > 1 ? ", " : "") + std::to_string(d);
    return s + "]";
}

}  // namespace

static int Compare(const char* manifest, int runs);

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: onnx_ep_compare MANIFEST [RUNS]\n");
        return 2;
    }
    int runs = argc > 2 ? std::atoi(argv[2]) : 5;
    try {
        return Compare(argv[1], runs);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "onnx_ep_compare: %s\n", e.what());
        return 2;
    }
}

static int Compare(const char* manifest, int runs) {
    Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "onnx_ep_compare");
    bool agree = true;
    for (auto& c : ReadManifest(manifest)) {
        auto cpu = Run(env, c, false, runs);
        auto gpu = Run(env, c, true, runs);
        std::printf("%s: CPU %.1f ms, CUDA %.1f ms per run (mean of %d)\n", c.name.c_str(), cpu.ms, gpu.ms, runs);
        for (size_t o = 0; o < cpu.names.size(); o++) {
            auto& a = cpu.values[o];
            auto& b = gpu.values[o];
            auto info = a.GetTensorTypeAndShapeInfo();
            bool sameShape = a.GetTensorTypeAndShapeInfo().GetShape() == b.GetTensorTypeAndShapeInfo().GetShape();
            double maxDiff = 0;
            size_t nanA = 0, nanB = 0;
            if (sameShape) {
                size_t n = info.GetElementCount();
                if (info.GetElementType() == ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64) {
                    const int64_t* x = a.GetTensorData<int64_t>();
                    const int64_t* y = b.GetTensorData<int64_t>();
                    for (size_t i = 0; i < n; i++) maxDiff = std::max(maxDiff, std::fabs(static_cast<double>(x[i] - y[i])));
                } else {
                    const float* x = a.GetTensorData<float>();
                    const float* y = b.GetTensorData<float>();
                    for (size_t i = 0; i < n; i++) {
                        nanA += std::isnan(x[i]);
                        nanB += std::isnan(y[i]);
                        if (!std::isnan(x[i]) && !std::isnan(y[i])) maxDiff = std::max(maxDiff, std::fabs(static_cast<double>(x[i]) - y[i]));
                    }
                }
            }
            agree &= sameShape && nanA == 0 && nanB == 0;
            std::printf("  %-8s CPU %s CUDA %s%s max |CPU - CUDA| %.3g, NaN CPU %zu CUDA %zu\n", cpu.names[o].c_str(), Shape(a).c_str(), Shape(b).c_str(),
                        sameShape ? "," : " (shapes differ),", maxDiff, nanA, nanB);
        }
    }
    std::printf(agree ? "SAME SHAPES, NO NaN\n" : "DIFFERENT SHAPES OR NaN\n");
    return agree ? 0 : 1;
}
