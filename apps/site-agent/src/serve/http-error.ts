/** An answer other than 200 from `serve`: the status and a stable `code` for clients, with a readable message. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}
