import { runFilesHelper } from './files-helper.js';

/**
 * Entry of the file helper process (`corral-agent _files-helper`, started by the agent as the channel's
 * OS user). Requests on stdin, answers on stdout; stderr is for the agent's log.
 */
export function filesHelperMain(): void {
  runFilesHelper({
    input: process.stdin,
    output: process.stdout,
    home: process.env.HOME ?? '/',
    exit: (code) => {
      process.exitCode = code;
      if (code !== 0) process.exit(code);
    },
  });
}
