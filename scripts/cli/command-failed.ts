/** An admin command that ran and failed; `invalid_input` ones exit 2, the others 1. */
export class CommandFailed extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
