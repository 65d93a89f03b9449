import { Injectable } from '@nestjs/common';

/** The time, behind a class so services can be tested with a fixed or moving fake clock. */
@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
