/** Pictures and reports: what the network learned (section 14.8.5), and the chapter's sweeps. */
export { writeReport, reportRun, type ReportOptions, type ReportRunOptions, type ReportInput, type ReportResult, type TernaryRow } from './report';
export { predictClasses, confusionMatrix, firstMisclassified, nthOfDigit, firstOfEachDigit, featureMaps, type FeatureMaps } from './analysis';
export { quantizeKernel, quantizeKernels, ternaryNetwork, ternaryAccuracy, TernaryConv2d, TERNARY_THRESHOLD, type TernaryKernel } from './ternary';
export { curvesPng, confusionPng, misclassifiedPng, featuresPng, ternaryPng, sweepPng } from './figures';
export { runSweep, sweepTable, CHAPTER_RESULTS, type SweepOptions, type SweepResult, type SweepRun, type SweepParameter } from './sweep';
