/** Process entry of the file helper (kept tiny: it starts for every file channel). */
import { filesHelperMain } from './helper-main.js';

filesHelperMain();
