// The recipe's "allocation" block and the calibration file's "importance" / "allocation": parsed,
// validated field by field, and round-tripped.
#include <gtest/gtest.h>

#include "calib/calibration_result.h"
#include "calib/recipe.h"
#include "util/error.h"

namespace qvit {
namespace {

const char* kRecipe = R"({"format": "qvit.recipe/1", "name": "mp", "weights": {"bits": 4}, "activations": {"bits": 5},
  "allocation": {"scorer": "sensitivity", "widths": [8, 3, 4, 4], "high_precision_blocks": 2, "sensitivity_bits": 2}})";

TEST(AllocationJson, RecipeBlockDefaultsAndRoundTrip) {
  const Recipe r = parse_recipe(kRecipe, "r.json");
  ASSERT_TRUE(r.allocation.enabled);
  EXPECT_EQ(r.allocation.scorer, "sensitivity");
  EXPECT_EQ(r.allocation.widths, (std::vector<int>{3, 4, 8}));
  EXPECT_EQ(r.allocation.weight_budget, 4);      // weights.bits
  EXPECT_EQ(r.allocation.activation_budget, 5);  // activations.bits
  EXPECT_EQ(r.allocation.high_precision_blocks, 2);
  EXPECT_EQ(r.allocation.sensitivity_bits, 2);
  const Recipe back = parse_recipe(recipe_to_json(r), "back");
  EXPECT_EQ(back.allocation.widths, r.allocation.widths);
  EXPECT_EQ(back.allocation.scorer, r.allocation.scorer);
  EXPECT_EQ(back.allocation.activation_budget, 5);
  EXPECT_FALSE(parse_recipe(R"({"format": "qvit.recipe/1", "name": "u", "weights": {"bits": 4}, "activations": {"bits": 4}})", "u")
                   .allocation.enabled);
}

void expect_recipe_error(const std::string& allocation, const std::string& want) {
  const std::string text = R"({"format": "qvit.recipe/1", "name": "b", "weights": {"bits": 4}, "activations": {"bits": 4}, "allocation": )" +
                           allocation + "}";
  try {
    parse_recipe(text, "bad.json");
    ADD_FAILURE() << "accepted " << allocation;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("bad.json"), std::string::npos) << e.what();
  }
}

TEST(AllocationJson, RecipeErrorsNameTheField) {
  expect_recipe_error(R"({"scorer": "magic"})", "allocation.scorer");
  expect_recipe_error(R"({"widths": []})", "allocation.widths");
  expect_recipe_error(R"({"widths": [1, 4]})", "allocation.widths[0]");
  expect_recipe_error(R"({"widths": [5, 6]})", "outside the allowed widths");
  expect_recipe_error(R"({"weight_budget": 9})", "allocation.weight_budget");
  expect_recipe_error(R"({"budget": 4})", "budget");
  expect_recipe_error(R"([1])", "allocation");
}

CalibrationResult sample() {
  CalibrationResult c;
  c.model = "m.onnx";
  c.model_sha256 = "ab";
  c.recipe = parse_recipe(kRecipe, "r.json");
  c.importance = {{"/a/MatMul", "linear", 0, 0.5, 1.5}, {"/b/MatMul", "matmul", 1, 0.25, 0.5}};
  BitAllocation a;
  a.scorer = "sensitivity";
  a.blocks = 2;
  a.weight_budget = 4;
  a.activation_budget = 5;
  a.weight_bits_avg = 4;
  a.activation_bits_avg = 4.75;
  a.note = "closest";
  a.layers = {{"/a/MatMul", 4, 5, 100, 10}, {"/b/MatMul", 0, 4, 0, 2}};
  c.allocation = a;
  return c;
}

TEST(AllocationJson, CalibrationRoundTrip) {
  const CalibrationResult c = sample();
  const CalibrationResult back = parse_calibration_result(c.to_json(), "c.json");
  ASSERT_EQ(back.importance.size(), 2u);
  EXPECT_EQ(back.importance[1].kind, "matmul");
  EXPECT_EQ(back.importance[1].block, 1);
  EXPECT_DOUBLE_EQ(back.importance[0].relative, 1.5);
  ASSERT_TRUE(back.allocation);
  EXPECT_EQ(back.allocation->layers.size(), 2u);
  EXPECT_EQ(back.allocation->layers[0].weight_bits, 4);
  EXPECT_EQ(back.allocation->layers[1].weight_bits, 0);
  EXPECT_DOUBLE_EQ(back.allocation->activation_bits_avg, 4.75);
  EXPECT_EQ(back.allocation->note, "closest");
  EXPECT_EQ(back.to_json(), c.to_json());
}

TEST(AllocationJson, CalibrationErrorsNameTheField) {
  const std::string good = sample().to_json();
  auto expect_error = [&](const std::string& from, const std::string& to, const std::string& want) {
    std::string text = good;
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    text.replace(at, from.size(), to);
    try {
      parse_calibration_result(text, "c.json");
      ADD_FAILURE() << "accepted " << to;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    }
  };
  expect_error("\"weight_bits\": 4", "\"weight_bits\": 1", "allocation.layers[0].weight_bits");
  expect_error("\"weight_bits\": 4", "\"weight_bits\": 12", "allocation.layers[0].weight_bits");
  expect_error("\"kind\": \"matmul\"", "\"kind\": \"pool\"", "importance[1].kind");
  expect_error("\"layer\": \"/b/MatMul\",\n   \"relative\"", "\"layer\": \"/a/MatMul\",\n   \"relative\"", "appears twice");
  expect_error("\"score\": 0.25", "\"score\": -1", "importance[1].score");
  expect_error("\"exact\": false", "\"exact\": 3", "allocation.exact");
}

}  // namespace
}  // namespace qvit
