// Importing this module registers every layer type: the portable ones (portable.ts) and those that read files.
import './portable.js';
import './data.js';
import './image_data.js';
import './infogain_loss.js';
import './hdf5_data.js';
import './hdf5_output.js';
