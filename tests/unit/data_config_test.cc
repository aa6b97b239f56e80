// The qvit.config/1 model config: parsing, defaults, and one clear error per bad field.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "data/preprocess_config.h"

namespace qvit::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json example_config() {
  return json::parse(R"({
    "format": "qvit.config/1", "name": "deit_fmnist", "model": "models/deit_fmnist.onnx",
    "input": {"channels": 1, "height": 28, "width": 28, "layout": "NCHW"},
    "resize": null, "center_crop": null, "interpolation": "bilinear",
    "pixel_scale": 255.0, "mean": [0.2860], "std": [0.3530],
    "num_classes": 10,
    "class_names": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "default_data": "/usr/share/datasets/fashion-mnist", "default_split": "t10k",
    "default_calib": "calib/fmnist"
  })");
}

json imagenet_config() {
  return json::parse(R"({
    "format": "qvit.config/1", "name": "deit_s",
    "input": {"channels": 3, "height": 224, "width": 224},
    "resize": 256, "center_crop": 224, "interpolation": "bicubic",
    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "num_classes": 1000
  })");
}

TEST(DataConfig, ParsesTheDocumentedExample) {
  const PreprocessConfig cfg = parse_preprocess_config(example_config().dump(), "deit_fmnist.json");
  EXPECT_EQ(cfg.name, "deit_fmnist");
  EXPECT_EQ(cfg.models, std::vector<std::string>{"models/deit_fmnist.onnx"});  // as written
  EXPECT_EQ(cfg.channels, 1);
  EXPECT_EQ(cfg.height, 28);
  EXPECT_EQ(cfg.width, 28);
  EXPECT_EQ(cfg.layout, Layout::NCHW);
  EXPECT_FALSE(cfg.resize.has_value());
  EXPECT_FALSE(cfg.center_crop.has_value());
  EXPECT_EQ(cfg.interpolation, Interpolation::Bilinear);
  EXPECT_DOUBLE_EQ(cfg.pixel_scale, 255.0);
  EXPECT_EQ(cfg.mean, std::vector<double>{0.2860});
  EXPECT_EQ(cfg.std, std::vector<double>{0.3530});
  EXPECT_EQ(cfg.num_classes, 10);
  ASSERT_EQ(cfg.class_names.size(), 10u);
  EXPECT_EQ(cfg.class_names[9], "Ankle boot");
  EXPECT_EQ(cfg.default_data, "/usr/share/datasets/fashion-mnist");
  EXPECT_EQ(cfg.default_split, "t10k");
  EXPECT_EQ(cfg.default_calib, "calib/fmnist");
}

TEST(DataConfig, ImagenetStyleConfigAndDefaults) {
  const PreprocessConfig cfg = parse_preprocess_config(imagenet_config().dump(), "deit_s.json");
  EXPECT_EQ(cfg.resize, 256);
  ASSERT_TRUE(cfg.center_crop.has_value());
  EXPECT_EQ(*cfg.center_crop, (CropSize{224, 224}));
  EXPECT_EQ(cfg.interpolation, Interpolation::Bicubic);
  EXPECT_EQ(cfg.layout, Layout::NCHW);        // default
  EXPECT_DOUBLE_EQ(cfg.pixel_scale, 255.0);   // default
  EXPECT_TRUE(cfg.class_names.empty());
  EXPECT_TRUE(cfg.models.empty());

  json rect = imagenet_config();
  rect["input"]["height"] = 192;
  rect["input"]["width"] = 256;
  rect["input"]["layout"] = "NHWC";
  rect["center_crop"] = {192, 256};
  const PreprocessConfig r = parse_preprocess_config(rect.dump(), "rect.json");
  EXPECT_EQ(*r.center_crop, (CropSize{192, 256}));
  EXPECT_EQ(r.layout, Layout::NHWC);
}

TEST(DataConfig, CommentsAreAllowed) {
  const std::string text = R"({ "format": "qvit.config/1",  // version
    "input": {"channels": 3, "height": 32, "width": 32}, "mean": [0, 0, 0], "std": [1, 1, 1],
    "num_classes": 10 /* CIFAR */ })";
  EXPECT_EQ(parse_preprocess_config(text, "c.json").channels, 3);
}

struct BadField {
  const char* what;
  std::function<void(json&)> mutate;
  const char* field;  // expected in the message as: field "<field>":
};

TEST(DataConfig, EveryBadFieldIsOneLineNamingFileAndField) {
  const std::vector<BadField> cases = {
      {"unknown version", [](json& j) { j["format"] = "qvit.config/2"; }, "format"},
      {"format missing", [](json& j) { j.erase("format"); }, "format"},
      {"format not a string", [](json& j) { j["format"] = 1; }, "format"},
      {"input missing", [](json& j) { j.erase("input"); }, "input"},
      {"input not an object", [](json& j) { j["input"] = 28; }, "input"},
      {"2 channels", [](json& j) { j["input"]["channels"] = 2; }, "input.channels"},
      {"channels missing", [](json& j) { j["input"].erase("channels"); }, "input.channels"},
      {"zero height", [](json& j) { j["input"]["height"] = 0; }, "input.height"},
      {"negative width", [](json& j) { j["input"]["width"] = -3; }, "input.width"},
      {"fractional height", [](json& j) { j["input"]["height"] = 2.5; }, "input.height"},
      {"string width", [](json& j) { j["input"]["width"] = "28"; }, "input.width"},
      {"huge width", [](json& j) { j["input"]["width"] = 1000000; }, "input.width"},
      {"bad layout", [](json& j) { j["input"]["layout"] = "CHW"; }, "input.layout"},
      {"typo inside input", [](json& j) { j["input"]["chanels"] = 1; }, "input.chanels"},
      {"typo at top level", [](json& j) { j["interpolaton"] = "bicubic"; }, "interpolaton"},
      {"zero resize", [](json& j) { j["resize"] = 0; }, "resize"},
      {"string resize", [](json& j) { j["resize"] = "28"; }, "resize"},
      {"resize without crop cannot give the input size", [](json& j) { j["resize"] = 32; }, "resize"},
      {"one-element crop", [](json& j) { j["center_crop"] = {28}; }, "center_crop"},
      {"zero crop side", [](json& j) { j["center_crop"] = {0, 28}; }, "center_crop[0]"},
      {"crop is not the input size", [](json& j) { j["center_crop"] = 24; }, "center_crop"},
      {"unknown interpolation", [](json& j) { j["interpolation"] = "lanczos"; }, "interpolation"},
      {"interpolation not a string", [](json& j) { j["interpolation"] = 2; }, "interpolation"},
      {"zero pixel_scale", [](json& j) { j["pixel_scale"] = 0; }, "pixel_scale"},
      {"string pixel_scale", [](json& j) { j["pixel_scale"] = "255"; }, "pixel_scale"},
      {"mean of 3 for 1 channel", [](json& j) { j["mean"] = {0.5, 0.5, 0.5}; }, "mean"},
      {"mean not an array", [](json& j) { j["mean"] = 0.5; }, "mean"},
      {"mean value not a number", [](json& j) { j["mean"] = {"a"}; }, "mean[0]"},
      {"mean missing", [](json& j) { j.erase("mean"); }, "mean"},
      {"std of 2 for 1 channel", [](json& j) { j["std"] = {0.5, 0.5}; }, "std"},
      {"zero std", [](json& j) { j["std"] = {0.0}; }, "std[0]"},
      {"negative std", [](json& j) { j["std"] = {-0.3}; }, "std[0]"},
      {"zero classes", [](json& j) { j["num_classes"] = 0; }, "num_classes"},
      {"classes missing", [](json& j) { j.erase("num_classes"); }, "num_classes"},
      {"class_names too short", [](json& j) { j["class_names"] = {"a", "b"}; }, "class_names"},
      {"class name not a string", [](json& j) { j["class_names"][1] = 7; }, "class_names[1]"},
      {"class_names not an array", [](json& j) { j["class_names"] = "a"; }, "class_names"},
      {"name not a string", [](json& j) { j["name"] = 3; }, "name"},
      {"model not a string or strings", [](json& j) { j["model"] = 7; }, "model"},
      {"model list with a number", [](json& j) { j["model"] = json::array({"a.onnx", 3}); }, "model[1]"},
      {"default_split not a string", [](json& j) { j["default_split"] = 5; }, "default_split"},
  };
  for (const auto& c : cases) {
    json j = example_config();
    c.mutate(j);
    try {
      parse_preprocess_config(j.dump(), "configs/bad.json");
      ADD_FAILURE() << c.what << ": no error";
    } catch (const qvit::Error& e) {
      const std::string msg = e.what();
      const std::string expected_prefix = std::string("configs/bad.json: field \"") + c.field + "\": ";
      EXPECT_EQ(msg.rfind(expected_prefix, 0), 0u) << c.what << ": " << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << c.what << ": " << msg;
    }
  }
}

TEST(DataConfig, MalformedFilesNameTheFile) {
  for (const char* text : {"{ \"format\": ", "[1, 2]", ""}) {
    try {
      parse_preprocess_config(text, "configs/broken.json");
      ADD_FAILURE() << "no error for: " << text;
    } catch (const qvit::Error& e) {
      EXPECT_EQ(std::string(e.what()).rfind("configs/broken.json: ", 0), 0u) << e.what();
    }
  }
}

TEST(DataConfig, LoadsFromFileAndDefaultsNameToTheFileStem) {
  const fs::path dir = fs::temp_directory_path() / ("qvit_data_config_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  json j = imagenet_config();
  j.erase("name");
  {
    std::ofstream(dir / "vit_b16.json") << j.dump(2);
  }
  const PreprocessConfig cfg = load_preprocess_config(dir / "vit_b16.json");
  EXPECT_EQ(cfg.name, "vit_b16");
  EXPECT_EQ(cfg.num_classes, 1000);

  try {
    load_preprocess_config(dir / "missing.json");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const qvit::Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.json"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace qvit::data
