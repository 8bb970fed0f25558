// OpenCV's YuNet (face_detection_yunet_2023mar.onnx, through Debian's OpenCV 4.6
// cv::dnn) on every image of an annotation list, for a side-by-side with
// facewatch: writes the detections in the list format `facectl eval detect
// --detections` scores (`path N`, then N lines `x y w h score`), and prints the
// time per image to stderr.
//
//   yunet_detect MODEL GT.txt OUT.txt [--score S] [--nms T]
//
// Each image runs at its own size, zero-padded right and bottom to a multiple
// of 32 (YuNet's largest stride), BGR as read, no scaling: what
// cv::FaceDetectorYN does. The 2023mar model has per-stride outputs that
// OpenCV 4.6's FaceDetectorYN cannot decode, so the decoding is here: for
// strides 8, 16, 32 and every cell (row-major), score = sqrt(cls * obj)
// (both clamped to 0..1), box centre (cell + regression) * stride, size
// exp(regression) * stride; then cv::dnn::NMSBoxes at IoU 0.3.
// --score defaults to 0.05 (AP needs the low-scoring detections; YuNet's own
// operating threshold is 0.9). One thread. Time = blob + forward + decode +
// NMS, not the JPEG decode.
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Face {
    double x, y, w, h;
    float score;
};

class Yunet {
public:
    explicit Yunet(const std::string& model) : net_(cv::dnn::readNet(model)) {
        net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
        net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
        for (int s : kStrides)
            for (const char* head : {"cls", "obj", "bbox"})
                names_.push_back(std::string(head) + "_" + std::to_string(s));
    }

    std::vector<Face> detect(const cv::Mat& bgr, float score_min, float nms_iou) {
        const int pw = (bgr.cols + 31) / 32 * 32, ph = (bgr.rows + 31) / 32 * 32;
        cv::copyMakeBorder(bgr, padded_, 0, ph - bgr.rows, 0, pw - bgr.cols, cv::BORDER_CONSTANT,
                           cv::Scalar::all(0));
        cv::dnn::blobFromImage(padded_, blob_);
        net_.setInput(blob_);
        net_.forward(outs_, names_);
        std::vector<cv::Rect2d> boxes;
        std::vector<float> scores;
        for (size_t k = 0; k < 3; k++) {
            const int s = kStrides[k], cols = pw / s, rows = ph / s;
            const float* cls = outs_[3 * k].ptr<float>();
            const float* obj = outs_[3 * k + 1].ptr<float>();
            const float* reg = outs_[3 * k + 2].ptr<float>();
            for (int r = 0; r < rows; r++) {
                for (int c = 0; c < cols; c++) {
                    const int i = r * cols + c;
                    const float p = std::sqrt(std::clamp(cls[i], 0.f, 1.f) * std::clamp(obj[i], 0.f, 1.f));
                    if (p < score_min)
                        continue;
                    const float* b = reg + 4 * i;
                    const double w = std::exp(b[2]) * s, h = std::exp(b[3]) * s;
                    boxes.emplace_back((c + b[0]) * s - w / 2, (r + b[1]) * s - h / 2, w, h);
                    scores.push_back(p);
                }
            }
        }
        std::vector<int> keep;
        cv::dnn::NMSBoxes(boxes, scores, score_min, nms_iou, keep, 1.f, 5000);
        std::vector<Face> faces;
        for (int i : keep)
            faces.push_back({boxes[i].x, boxes[i].y, boxes[i].width, boxes[i].height, scores[i]});
        std::sort(faces.begin(), faces.end(), [](const Face& a, const Face& b) { return a.score > b.score; });
        return faces;
    }

private:
    static constexpr int kStrides[3] = {8, 16, 32};
    cv::dnn::Net net_;
    std::vector<std::string> names_;
    cv::Mat padded_, blob_;
    std::vector<cv::Mat> outs_;
};

// Image paths of an annotation list (`path N`, then N lines to skip).
bool read_list(const std::string& file, std::vector<std::string>& paths) {
    std::ifstream in(file);
    std::string line;
    int skip = 0, lineno = 0;
    if (!in)
        return false;
    while (std::getline(in, line)) {
        lineno++;
        if (skip > 0) {
            skip--;
            continue;
        }
        std::istringstream ss(line);
        std::string path;
        int n;
        if (!(ss >> path))
            continue;
        if (!(ss >> n) || n < 0) {
            std::fprintf(stderr, "%s:%d: expected 'path N'\n", file.c_str(), lineno);
            return false;
        }
        paths.push_back(path);
        skip = n;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: %s MODEL GT.txt OUT.txt [--score S] [--nms T]\n", argv[0]);
        return 2;
    }
    float score_min = 0.05f, nms_iou = 0.3f;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!std::strcmp(argv[i], "--score"))
            score_min = std::strtof(argv[i + 1], nullptr);
        else if (!std::strcmp(argv[i], "--nms"))
            nms_iou = std::strtof(argv[i + 1], nullptr);
        else {
            std::fprintf(stderr, "%s: unknown option %s\n", argv[0], argv[i]);
            return 2;
        }
    }
    cv::setNumThreads(1);
    const std::string gt = argv[2];
    const std::string dir = gt.find('/') == std::string::npos ? "." : gt.substr(0, gt.rfind('/'));
    std::vector<std::string> paths;
    if (!read_list(gt, paths))
        return 1;
    Yunet yunet(argv[1]);
    std::FILE* out = std::fopen(argv[3], "w");
    if (!out) {
        std::perror(argv[3]);
        return 1;
    }
    std::vector<double> ms;
    for (const std::string& p : paths) {
        cv::Mat img = cv::imread(dir + "/" + p, cv::IMREAD_COLOR);
        if (img.empty()) {
            std::fprintf(stderr, "%s/%s: cannot read\n", dir.c_str(), p.c_str());
            return 1;
        }
        auto t0 = std::chrono::steady_clock::now();
        std::vector<Face> faces = yunet.detect(img, score_min, nms_iou);
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        std::fprintf(out, "%s %zu\n", p.c_str(), faces.size());
        for (const Face& f : faces)
            std::fprintf(out, "%.1f %.1f %.1f %.1f %.4f\n", f.x, f.y, f.w, f.h, f.score);
    }
    std::fclose(out);
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    double mean = 0;
    for (double v : ms)
        mean += v;
    mean /= ms.empty() ? 1 : ms.size();
    std::fprintf(stderr, "yunet: %zu images, time per image median %.1f ms, mean %.1f ms (one thread)\n",
                 ms.size(), sorted.empty() ? 0.0 : sorted[sorted.size() / 2], mean);
    return 0;
}
