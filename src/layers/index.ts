// Importing this module registers every layer type.
import './input.js';
import './convolution.js';
import './pooling.js';
import './inner_product.js';
import './relu.js';
import './softmax.js';
import './softmax_loss.js';
import './accuracy.js';
import './split.js';
import './data.js';
