/**
 * 'napinet/chapter': the application of the chapter "14.8 recognising handwritten digits", built
 * on napinet's public API (lib/index.ts) alone, as any user's code would be. Its recipes (the seed
 * CNN, the deeper network and the fast one, with checkpoints), the ready-made networks, the pictures and
 * report.html of a run, and the chapter's sweeps; the `napinet` command line (cli.ts) drives them.
 *
 *   import { trainSeedRecipe, writeReport } from 'napinet/chapter';
 *
 * The pictures need the optional dependencies @napi-rs/canvas and chart.js, loaded on first use.
 */
export { seedNetwork, deepNetwork, fastNetwork, type SeedNetworkOptions, type DeepNetworkOptions, type FastNetworkOptions } from './models';
export {
  trainSeedRecipe, seedPreprocessing, SEED_RECIPE, type RecipeRunOptions, type SeedRecipeOptions, type SeedRecipeResult,
} from './recipe';
export { trainDeepRecipe, DEEP_RECIPE, type DeepRecipeOptions, type DeepRecipeResult } from './deep_recipe';
export { trainFastRecipe, FAST_RECIPE, type FastRecipeOptions } from './fast_recipe';
export { checkpointRecipe, RECIPE_NAMES, type RecipeName } from './recipe_checkpoints';
/** Pictures and reports: what the network learned (section 14.8.5), and the chapter's sweeps. */
export { writeReport, reportRun, type ReportOptions, type ReportRunOptions, type ReportInput, type ReportResult, type TernaryRow } from './viz/report';
export { predictClasses, confusionMatrix, firstMisclassified, nthOfDigit, firstOfEachDigit, featureMaps, type FeatureMaps } from './viz/analysis';
export { quantizeKernel, quantizeKernels, ternaryNetwork, ternaryAccuracy, TernaryConv2d, TERNARY_THRESHOLD, type TernaryKernel } from './viz/ternary';
export { curvesPng, confusionPng, misclassifiedPng, featuresPng, ternaryPng, sweepPng } from './viz/figures';
export { runSweep, sweepTable, CHAPTER_RESULTS, type SweepOptions, type SweepResult, type SweepRun, type SweepParameter } from './sweep';
