import { Injectable } from '@nestjs/common';
import { AppException } from '../../common/errors/app.exception';
import { ErrorCode } from '../../common/errors/error-code.enum';
import { isUniqueViolation } from '../../database/pg-errors';
import { type SystemTx, UnitOfWork } from '../../tenancy/unit-of-work';
import type { UpdateMeDto } from './dto/update-me.dto';
import { User } from './user.entity';

export const emailTaken = (): AppException =>
  AppException.conflict(ErrorCode.EMAIL_TAKEN, 'An account with this email already exists');

/** Users (accounts): the only writer of the users table. */
@Injectable()
export class UsersService {
  constructor(private readonly uow: UnitOfWork) {}

  async get(id: string): Promise<User> {
    const user = await this.uow.systemRead().repo(User).findOneBy({ id });
    if (!user) throw AppException.notFound('User');
    return user;
  }

  /**
   * PATCH /users/me: the given fields of the caller's account (name, phone; null removes the
   * phone). The row is locked, so concurrent changes apply one after the other.
   */
  update(id: string, input: UpdateMeDto): Promise<User> {
    return this.uow.system(async (tx) => {
      const users = tx.repo(User);
      const user = await users.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!user) throw AppException.notFound('User');
      if (input.name !== undefined) user.name = input.name;
      if (input.phone !== undefined) user.phone = input.phone;
      return users.save(user);
    });
  }

  findByEmail(email: string): Promise<User | null> {
    return this.uow.systemRead().repo(User).findOneBy({ email });
  }

  /** The user with its password hash (excluded from every other read). */
  findCredentials(email: string): Promise<User | null> {
    return this.uow
      .systemRead()
      .repo(User)
      .createQueryBuilder('u')
      .addSelect('u.passwordHash')
      .where('u.email = :email', { email })
      .getOne();
  }

  /**
   * The user `id` with its password hash (null: an account without a password, created by single
   * sign-on); null when there is no such user. `lock`: in `tx`, the row is locked for update.
   */
  findCredentialsById(
    id: string,
    tx: SystemTx = this.uow.systemRead(),
    lock = false,
  ): Promise<User | null> {
    const query = tx
      .repo(User)
      .createQueryBuilder('u')
      .addSelect('u.passwordHash')
      .where('u.id = :id', { id });
    if (lock) query.setLock('pessimistic_write');
    return query.getOne();
  }

  /** Stores a new password hash (bcrypt) for the user, in `tx`. */
  async setPasswordHash(tx: SystemTx, id: string, passwordHash: string): Promise<void> {
    await tx.repo(User).update({ id }, { passwordHash });
  }

  /**
   * Creates a user in `tx` (registration); 409 EMAIL_TAKEN when the email is taken, also by a
   * concurrent registration that committed first.
   */
  async create(tx: SystemTx, input: Pick<User, 'email' | 'name' | 'passwordHash'>): Promise<User> {
    const users = tx.repo(User);
    try {
      return await users.save(users.create(input));
    } catch (e) {
      if (isUniqueViolation(e)) throw emailTaken();
      throw e;
    }
  }
}
