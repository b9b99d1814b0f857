// Importing this module registers every layer type: the portable ones (portable.ts) and the two that read files.
import './portable.js';
import './data.js';
import './infogain_loss.js';
