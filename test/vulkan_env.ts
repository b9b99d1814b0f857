// Imported first by webgpu_vulkan.test.ts: points Dawn at the lavapipe Vulkan driver that scripts/fetch_lavapipe.sh
// unpacks (or TSCAFFE_TEST_VULKAN_ICD), before anything looks for an adapter.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helpers.js';

export const lavapipeIcd = process.env.TSCAFFE_TEST_VULKAN_ICD || path.join(repoRoot, '.lavapipe', 'lvp_icd.json');

/** Why the Vulkan tests skip here, or false when lavapipe is there. */
export const noLavapipe: string | false = existsSync(lavapipeIcd)
  ? false
  : `no lavapipe Vulkan driver at ${lavapipeIcd} (run: bash scripts/fetch_lavapipe.sh)`;

if (!noLavapipe) {
  process.env.VK_DRIVER_FILES = lavapipeIcd;
  process.env.TSCAFFE_WEBGPU_BACKEND = 'vulkan';
}
