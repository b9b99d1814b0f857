// An error answer of the platform API ({error, field?} with an HTTP status), for its clients: the Node client
// (client.ts) and the web console (web/src/console/api.ts). No Node imports: the console bundles it.
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** The message without the 'field: ' prefix the API puts in front (for display next to that field). */
  get detail(): string {
    return this.field && this.message.startsWith(`${this.field}: `) ? this.message.slice(this.field.length + 2) : this.message;
  }
}
